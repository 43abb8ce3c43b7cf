import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidArgumentError } from 'commander';
import { parseListen } from '../core/rpc/server.js';
import { parseDuration } from '../core/units.js';
import { printLine } from '../core/terminalText.js';

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

/** A sealing thread's index, as `worker list` shows it. */
export const indexArg = arg((text) => {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new Error(`invalid thread index "${text}": expected a non-negative integer`);
  return n;
});

/** Prints one line on stderr and exits non-zero: how every command reports bad input or a failure. */
export function die(err: unknown): never {
  process.stderr.write(printLine(`error: ${err instanceof Error ? err.message : String(err)}`));
  process.exit(1);
}

/**
 * Starts a daemon and runs it until SIGINT/SIGTERM, then closes it and exits 0. The handlers go in before
 * `start`, because a daemon announces itself (its ready line) from inside `start`: a signal sent on that line
 * must reach the graceful close, not Node's default, which kills the process without closing anything. A
 * signal during `start` closes as soon as start returns; a second signal gives up on the close and exits 1.
 */
export async function runUntilSignal(start: () => Promise<() => Promise<void>>): Promise<void> {
  let closing = false;
  const stop = (): void => {
    if (closing) {
      process.stderr.write('error: interrupted again while closing: exiting without a clean close\n');
      process.exit(1);
    }
    closing = true;
    started.then((close) => close()).then(
      () => process.exit(0),
      (err: unknown) => die(err),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  // Handlers run from the event loop only, so `started` is always set by the time `stop` reads it.
  const started = start();
  await started;
}
