import { spawn } from 'node:child_process';
import { findOnPath } from '../../src/core/executable.js';

/** Why a test on a pseudo-terminal cannot run here, or false when it can. */
export const noTerminal: string | false = findOnPath('script') === undefined ? 'util-linux script is not installed' : false;

export interface OnTerminal {
  /** Everything the terminal received so far, escapes included. */
  output(): string;
  /** Types Ctrl-C on the terminal; resolves with the exit code (the session is ended after 30 s without an exit). */
  ctrlC(): Promise<number | null>;
  /** Ends the session (and the program on it) with SIGTERM. */
  close(): Promise<number | null>;
}

/** `node <bin> <args>` on a pseudo-terminal (util-linux `script`), so that its stdout is a TTY. */
export function onTerminal(bin: string, args: string[], env: Record<string, string> = {}): OnTerminal {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  // `exec`, so that the program is script's own child: a shell left in between (dash, script's default when
  // $SHELL is unset, does not exec a quoted command) also receives the Ctrl-C and may die of it (exit 130).
  const command = `exec ${[process.execPath, bin, ...args].map(quote).join(' ')}`;
  const proc = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { ...process.env, SHELL: '/bin/sh', SEALFLEET_LOG: 'info', ...env }, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
  let out = '';
  proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', resolve));
  return {
    output: () => out,
    ctrlC: async () => {
      proc.stdin.write('\x03');
      const timer = setTimeout(() => close(), 30_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    close,
  };

  function close(): Promise<number | null> {
    if (proc.pid !== undefined && proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid, 'SIGTERM');
    return exited;
  }
}
