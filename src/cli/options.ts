import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parseListen } from '../core/rpc/server.js';
import { parseDuration } from '../core/units.js';

/** Wraps a parser so commander reports its message as the flag's error. */
export function arg<T>(parse: (text: string) => T): (text: string) => T {
  return (text) => {
    try {
      return parse(text);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

export const durationArg = arg(parseDuration);
export const listenArg = arg((text) => {
  parseListen(text);
  return text;
});

export function defaultHome(): string {
  return resolve(process.env.SEALFLEET_HOME ?? join(homedir(), '.sealfleet'));
}

/** Prints one line on stderr and exits non-zero: how every command reports bad input or a failure. */
export function die(err: unknown): never {
  process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}

/** Runs until SIGINT/SIGTERM, then closes and exits 0. */
export function untilSignal(close: () => Promise<void>): void {
  let closing = false;
  const stop = (): void => {
    if (closing) return;
    closing = true;
    close().then(
      () => process.exit(0),
      (err: unknown) => die(err),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
