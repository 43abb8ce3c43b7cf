import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { RpcClient } from '../../src/core/rpc/client.js';
import type { SectorEvent, SectorSummary } from '../../src/manager/api/admin.js';
import { eventually } from '../helpers/manager.js';
import { ROOT, runCli, spawnCli, tempDir } from '../helpers/processes.js';

const QUICKSTART = join(ROOT, 'dist', 'cli', 'quickstart.js');
/** No sidecar where the quick start looks for one, whatever this machine has built. */
const NO_SIDECAR = { SEALFLEET_PROOFS_BIN: '/nonexistent/sealfleet-proofs' };

describe('quick start (npm start)', () => {
  it('says which mode it runs in, keeps it for its home, and refuses a switch', async () => {
    const home = tempDir('quickstart');
    const run = spawnCli(QUICKSTART, ['--home', home, '--listen', '127.0.0.1:0', '--threads', '1'], NO_SIDECAR);
    try {
      const line = await run.waitFor(/^sealfleet running/, 30_000);
      assert.match(line, /worker with 1 sealer threads; mock processors, because the sealfleet-proofs sidecar is not built \(npm run build:proofs\)$/);
    } finally {
      assert.equal(await run.kill(), 0, run.stderr());
    }
    assert.equal(readFileSync(join(home, 'proofs-mode'), 'utf8'), 'mock\n');
    // Its worker runs with a write token bound to its name, not the operator's admin token.
    const token = /^token = "([^"]+)"$/m.exec(readFileSync(join(home, 'worker.toml'), 'utf8'))?.[1] ?? '';
    assert.deepEqual(decodeJwt(token), { Allow: ['read', 'write'], Worker: 'quickstart' });
    assert.equal(statSync(join(home, 'worker.toml')).mode & 0o777, 0o600);

    const real = await runCli(QUICKSTART, ['--home', home, '--listen', '127.0.0.1:0', '--proofs', 'real'], NO_SIDECAR);
    assert.notEqual(real.code, 0);
    assert.match(real.stderr, /was started with mock proofs and its sectors need them: use --proofs mock, or another --home/);

    const fresh = await runCli(QUICKSTART, ['--home', tempDir('quickstart-real'), '--listen', '127.0.0.1:0', '--proofs', 'real'], NO_SIDECAR);
    assert.notEqual(fresh.code, 0);
    assert.match(fresh.stderr, /real proofs need the sidecar, but the sealfleet-proofs sidecar is not built/);

    const bad = await runCli(QUICKSTART, ['--home', home, '--proofs', 'fast']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /argument 'fast' is invalid\. Allowed choices are auto, real, mock/);
  });

  it('stops on Ctrl-C with one line saying what it kept, and a restart carries the sectors on with no failure', async () => {
    const home = tempDir('quickstart-stop');
    const args = ['--home', home, '--listen', '127.0.0.1:0', '--threads', '2'];
    // SEALFLEET_LOG as `npm start` leaves it: warnings and errors only.
    const env = { ...NO_SIDECAR, SEALFLEET_LOG: 'warn' };
    const first = spawnCli(QUICKSTART, args, env, [], { group: true });
    try {
      await first.waitFor(/ PCSubmitted/, 60_000);
    } finally {
      // The terminal's Ctrl-C: SIGINT to the whole foreground process group.
      assert.equal(await first.killGroup('SIGINT'), 0, first.stderr());
    }
    assert.equal(first.stderr(), '');
    const lines = first.stdout().trimEnd().split('\n');
    assert.ok(!lines.some((l) => l.startsWith('{')), `log lines on a stop:\n${first.stdout()}`);
    const last = lines.at(-1) ?? '';
    const escaped = home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const m = new RegExp(`^stopped: (\\d+) threads? paused in place, (\\d+) sectors? kept in ${escaped} \\((\\d+) finalized, (\\d+) sealing\\); npm start -- --home ${escaped} continues them$`).exec(last);
    assert.ok(m, last);
    assert.ok(Number(m[2]) >= 1, last);

    const second = spawnCli(QUICKSTART, args, env, [], { group: true });
    try {
      await second.waitFor(/^sealfleet running/, 60_000);
      const rpc = new RpcClient({ url: `${readFileSync(join(home, 'api'), 'utf8').trim()}/rpc/v0`, token: readFileSync(join(home, 'token'), 'utf8').trim() });
      const sectors = await rpc.call<SectorSummary[]>('SealFleet.SectorsList', [{}]);
      await eventually('every sector kept by the stop finalized', async () => {
        const now = await rpc.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: 'finalized' }]);
        return sectors.filter((s) => s.Number <= Number(m[2])).every((s) => now.some((f) => f.Sector === s.Sector)) ? true : undefined;
      }, 120_000);
      for (const s of sectors) {
        const events = await rpc.call<SectorEvent[]>('SealFleet.SectorLog', [{ Miner: s.Miner, Number: s.Number }]);
        assert.deepEqual(events.filter((e) => e.FailureLevel !== null), [], `${s.Sector} has failures`);
      }
    } finally {
      assert.equal(await second.killGroup('SIGTERM'), 0, second.stderr());
    }
  });
});
