import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { eventually } from '../helpers/manager.js';
import { tempDir } from '../helpers/processes.js';
import { createFleet, fleetAvailable } from './netns.js';

/** A program for the hosts: `serve <addr> <file>` answers HTTP with the file's text; `get <url>` prints the answer. */
const PROGRAM = `
import { createServer } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
const [cmd, a, b] = process.argv.slice(2);
if (cmd === 'serve') {
  createServer((req, res) => res.end(readFileSync(b, 'utf8'))).listen(8080, a, () => console.log('listening ' + process.pid));
} else if (cmd === 'get') {
  const res = await fetch(a, { signal: AbortSignal.timeout(3000) });
  console.log(await res.text());
} else if (cmd === 'write') {
  writeFileSync(a, b);
}
`;

const namespaces = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });

describe('fleet harness (network namespaces)', () => {
  it('links hosts through a switch, gives each its own path onto a shared directory, cuts and restores a link, and cleans up', async (t) => {
    if (!(await fleetAvailable(t))) return;
    const dir = tempDir('netns');
    const program = join(dir, 'program.mjs');
    writeFileSync(program, PROGRAM);
    const shared = join(dir, 'shared');
    const paths = { a: join(dir, 'a', 'mnt'), b: join(dir, 'b', 'srv', 'data') };
    mkdirSync(shared);
    writeFileSync(join(shared, 'greeting'), 'hello from the shared store');
    const fleet = await createFleet([
      { name: 'a', mounts: [{ source: shared, target: paths.a }] },
      { name: 'b', mounts: [{ source: shared, target: paths.b }] },
    ]);
    try {
      const a = fleet.host('a');
      const b = fleet.host('b');
      assert.notEqual(a.address, b.address);
      assert.match(a.address, /^10\.213\.\d+\.\d+$/);
      assert.equal(execFileSync('ip', ['-n', a.ns, 'route', 'show', 'default'], { encoding: 'utf8' }).trim(), '', 'no route out of the fleet');
      assert.doesNotMatch(execFileSync('ip', ['-o', 'addr'], { encoding: 'utf8' }), /10\.213\./, 'the root namespace has no fleet address');

      // Host a serves the file at its own path; host b reaches it over the switch.
      const server = a.spawn(program, ['serve', a.address, join(paths.a, 'greeting')]);
      const pid = Number((await server.waitFor(/^listening/, 20_000)).split(' ')[1]);
      assert.equal(pid, server.proc.pid, 'the spawned pid is the program itself, so signals reach it');
      const url = `http://${a.address}:8080/`;
      const got = await b.run(program, ['get', url]);
      assert.equal(got.stdout.trim(), 'hello from the shared store', got.stderr);

      // Host b writes at its path: the file is in the shared directory, while the path of host a, seen from
      // outside a's processes, stays an empty directory.
      const wrote = await b.run(program, ['write', join(paths.b, 'from-b'), 'written by b']);
      assert.equal(wrote.code, 0, wrote.stderr);
      assert.equal(readFileSync(join(shared, 'from-b'), 'utf8'), 'written by b');
      assert.deepEqual(readdirSync(paths.a), []);
      assert.deepEqual(readdirSync(paths.b), []);

      await b.linkDown();
      const cut = await b.run(program, ['get', url]);
      assert.notEqual(cut.code, 0, 'no answer while the link is down');
      await b.linkUp();
      await eventually('host a reachable again', async () => ((await b.run(program, ['get', url])).code === 0 ? true : undefined), 30_000);

      assert.equal(await server.kill('SIGKILL'), null);
      assert.equal(server.proc.signalCode, 'SIGKILL');
    } finally {
      await fleet.cleanup();
    }
    for (const h of fleet.hosts.values()) assert.ok(!namespaces().includes(h.ns), `${h.ns} is deleted`);
    assert.ok(existsSync(join(shared, 'from-b')), 'cleanup leaves the shared files alone');
  });
});
