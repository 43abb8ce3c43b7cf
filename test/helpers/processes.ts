import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MANAGER_BIN = join(ROOT, 'bin', 'sealfleet-manager.js');

export const tempDir = (prefix: string): string => mkdtempSync(join(tmpdir(), `sealfleet-${prefix}-`));

export interface Spawned {
  proc: ChildProcess;
  /** Resolves with the first stdout line matching `pattern`, or rejects when the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stderr(): string;
  /** Everything the process printed on stdout so far. */
  stdout(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  /**
   * Signals the whole process group of a child spawned with `group`, as a terminal's Ctrl-C does: the
   * daemon and every process it started in that group.
   */
  killGroup(signal: NodeJS.Signals): Promise<number | null>;
}

/**
 * `node <bin> <args>`, run through `prefix` when given (e.g. `ip netns exec <ns>`: a prefix that execs, so the
 * child's pid is node's own and a signal reaches it).
 */
function nodeCommand(bin: string, args: string[], prefix: string[]): [string, string[]] {
  const [command = process.execPath, ...rest] = [...prefix, process.execPath];
  return [command, [...rest, bin, ...args]];
}

/**
 * Children still running. A test that fails before its `finally` can leave a daemon behind, which would keep
 * its test file from ever ending; `npm test` runs with `--test-force-exit`, and this ends them with it.
 */
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Runs one of the CLI programs as a real child process, collecting its output. */
export function spawnCli(bin: string, args: string[], env: Record<string, string> = {}, prefix: string[] = [], opts: { group?: boolean } = {}): Spawned {
  const proc = spawn(...nodeCommand(bin, args, prefix), {
    env: { ...process.env, SEALFLEET_LOG: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.group ?? false,
  });
  let out = '';
  let all = '';
  let err = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  proc.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    all += chunk.toString();
    const lines = out.split('\n');
    out = lines.pop() ?? '';
    for (const line of lines) {
      for (const w of [...waiters]) {
        if (w.pattern.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  proc.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  live.add(proc);
  const exited = new Promise<number | null>((resolve) =>
    proc.on('exit', (code) => {
      live.delete(proc);
      resolve(code);
    }),
  );
  return {
    proc,
    stderr: () => err,
    stdout: () => all,
    exited,
    waitFor: (pattern, timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs}ms; stderr: ${err}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`process exited (${code}) before printing ${pattern}; stderr: ${err}`));
        });
      }),
    kill: (signal = 'SIGTERM') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
    killGroup: (signal) => {
      if (!opts.group || proc.pid === undefined) throw new Error('killGroup needs a child spawned with { group: true }');
      if (proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid, signal);
      return exited;
    },
  };
}

/** Runs a CLI command to completion. */
export function runCli(bin: string, args: string[], env: Record<string, string> = {}, prefix: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(...nodeCommand(bin, args, prefix), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    proc.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A TCP port free right now on loopback (for daemons whose address a config or a restart must know). */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}
