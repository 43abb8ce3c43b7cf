import assert from 'node:assert/strict';
import { realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import type { AllocatedSector } from '../../src/core/wire/sealer.js';
import { eventually, startTestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { FakeSealer } from '../helpers/sealing.js';

const SPEC = [{ AllowedMiners: null, AllowedProofTypes: null }];

const managerToml = (persist: string) => `
[chain]
seal_randomness_lookback = 5
seed_confidence = 1
message_confidence = 1
poll_interval = "300ms"

[[miners]]
id = 1000
sender = "t0100"

[sectors]
orphan_after = "3s"

[pieces]
import_dirs = ["${realpathSync(tmpdir())}"]

[[persist_stores]]
name = "local"
path = "${persist}"
`;

describe('orphaned allocations (real daemon, no worker asks for work)', () => {
  it('are released after orphan_after, give back their pieces, and show as orphaned in sectors list', async () => {
    const home = tempDir('orphans');
    const m = await startTestManager(home, { managerToml: managerToml(join(home, 'persist')) });
    try {
      const payload = join(tempDir('orphans-piece'), 'payload');
      writeFileSync(payload, Buffer.alloc(1000, 7));
      const imported = await runCli(MANAGER_BIN, ['util', 'deals', 'import', payload, '--home', home]);
      assert.equal(imported.code, 0, imported.stderr);
      // An orphan that took a piece before its worker died, and one that took nothing.
      const withPiece = await m.call<AllocatedSector>('Venus.AllocateSector', SPEC);
      assert.equal((await m.call<unknown[]>('Venus.AcquireDeals', [withPiece.ID, { MaxDeals: null, MinUsedSpace: null }])).length, 1);
      const bare = await m.call<AllocatedSector>('Venus.AllocateSector', SPEC);
      // A sector its worker reports on is no orphan, however long its step takes.
      const live = new FakeSealer(m, await m.call<AllocatedSector>('Venus.AllocateSector', SPEC));
      await live.report('Empty', 'Allocated', 'Allocate');

      const list = async () => {
        const res = await runCli(MANAGER_BIN, ['util', 'sealer', 'sectors', 'list', '--json', '--home', home]);
        assert.equal(res.code, 0, res.stderr);
        return JSON.parse(res.stdout) as SectorSummary[];
      };
      // Released within 1.25 × orphan_after of the manager's start (the allocations are younger).
      const rows = await eventually('both orphans released', async () => {
        const r = await list();
        return r.filter((s) => s.Orphaned).length === 2 ? r : undefined;
      });
      for (const id of [withPiece.ID, bare.ID]) {
        const s = rows.find((r) => r.Number === id.Number);
        assert.equal(s?.Status, 'aborted');
        assert.match(s?.AbortReason ?? '', /^orphaned: no worker reported on it within 3s of allocation$/);
      }
      const kept = rows.find((r) => r.Number === live.id.Number);
      assert.deepEqual([kept?.Status, kept?.State, kept?.Orphaned], ['sealing', 'Allocated', false]);

      const pieces = await m.call<{ Status: string; Sector: string | null }[]>('SealFleet.PiecesList');
      assert.deepEqual(pieces.map((p) => [p.Status, p.Sector]), [['queued', null]], 'the orphan gave its piece back');

      const table = await runCli(MANAGER_BIN, ['util', 'sealer', 'sectors', 'list', '--home', home]);
      const line = table.stdout.split('\n').find((l) => l.startsWith(`s-t01000-${bare.ID.Number} `)) ?? '';
      assert.match(line, /^s-t01000-\d+\s+aborted\s+sealer\s+orphaned\s+-\s+.* ago\s+orphaned: no worker reported on it within 3s of allocation$/);

      // A worker that took the number after all hears that the sector was ended, with why.
      await assert.rejects(m.call('Venus.AssignTicket', [bare.ID]), (e: { code: number; data: unknown }) =>
        e.code === 11001 && JSON.stringify(e.data) === JSON.stringify({ Known: true, Status: 'aborted', Reason: 'orphaned: no worker reported on it within 3s of allocation' }));
    } finally {
      await m.daemon.kill();
    }
  });
});
