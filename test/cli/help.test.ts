import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { MANAGER_BIN, ROOT, runCli } from '../helpers/processes.js';
import { WORKER_BIN } from '../helpers/worker.js';

/** The subcommands a `--help` lists under "Commands:", without commander's own `help`. */
function subcommands(help: string): string[] {
  const section = help.split('\nCommands:\n')[1]?.split('\n\n')[0] ?? '';
  return section
    .split('\n')
    .map((l) => /^ {2}([a-z][\w-]*)/.exec(l)?.[1])
    .filter((name): name is string => name !== undefined && name !== 'help');
}

/** Every command of a CLI, found by walking its `--help` from the top; each one's help text. */
async function walk(bin: string, path: string[] = []): Promise<Map<string, string>> {
  const res = await runCli(bin, [...path, '--help']);
  assert.equal(res.code, 0, `${path.join(' ')} --help: ${res.stderr}`);
  const found = new Map([[path.join(' '), res.stdout]]);
  for (const sub of subcommands(res.stdout)) {
    for (const [k, v] of await walk(bin, [...path, sub])) found.set(k, v);
  }
  return found;
}

describe('--help of every command (real CLIs)', () => {
  for (const [cli, bin, least] of [
    ['sealfleet-manager', MANAGER_BIN, 25],
    ['sealfleet-worker', WORKER_BIN, 8],
    ['the quick start', join(ROOT, 'dist', 'cli', 'quickstart.js'), 1],
  ] as const) {
    it(`${cli}: each command's help ends with an example of it`, async () => {
      const helps = await walk(bin);
      assert.ok(helps.size >= least, `only ${[...helps.keys()].join(', ')}`);
      for (const [path, help] of helps) {
        const examples = /\nExamples?:\n((?: {2}\$ .+\n)+)\n*$/.exec(help);
        assert.ok(examples, `"${path}" --help has no Example section:\n${help}`);
        // An example of a subcommand runs that subcommand (a group's may show one of its children).
        for (const line of (examples[1] ?? '').trimEnd().split('\n')) {
          if (path !== '' && bin !== join(ROOT, 'dist', 'cli', 'quickstart.js')) assert.ok(line.includes(` ${path}`), `"${path}" example runs something else: ${line}`);
        }
      }
    });
  }
});
