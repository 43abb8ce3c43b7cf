import assert from 'node:assert/strict';
import { realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SectorDetail, SectorEvent, SectorSummary } from '../../src/manager/api/admin.js';
import type { AllocatedSector } from '../../src/core/wire/sealer.js';
import { eventually, QUICK_CHAIN_TOML, startTestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { FakeSealer } from '../helpers/sealing.js';

const SPEC = [{ AllowedMiners: null, AllowedProofTypes: null }];

const managerToml = (persist: string) => `${QUICK_CHAIN_TOML}
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

  it('release a snap-up or a rebuild no worker reported on: the CC sector and its piece are free again, the rebuild back in the queue', async () => {
    const home = tempDir('orphans-plans');
    const persist = join(home, 'persist');
    const m = await startTestManager(home, { managerToml: managerToml(persist) });
    try {
      const cc = new FakeSealer(m, await m.call<AllocatedSector>('Venus.AllocateSector', SPEC));
      await cc.sealAll(persist, { MaxDeals: 0, MinUsedSpace: null });
      const payload = join(tempDir('orphans-plans-piece'), 'payload');
      writeFileSync(payload, Buffer.alloc(1000, 9));
      const imported = await runCli(MANAGER_BIN, ['util', 'deals', 'import', payload, '--home', home]);
      assert.equal(imported.code, 0, imported.stderr);
      const state = () => m.call<SectorDetail>('SealFleet.SectorState', [cc.id]);
      const lastEvent = async () => (await m.call<SectorEvent[]>('SealFleet.SectorLog', [cc.id, 50])).at(-1);

      // The answer to a snap-up allocation is lost: nobody reports on the upgrade.
      const snap = await m.call<{ Sector: AllocatedSector } | null>('Venus.AllocateSnapUpSector', [{ Sector: SPEC[0], Deals: { MaxDeals: null, MinUsedSpace: null } }]);
      assert.deepEqual(snap?.Sector.ID, cc.id);
      assert.equal((await state()).Stage, 'upgrading');
      const released = await eventually('the snap-up released', async () => ((await state()).Stage === 'finalized' ? state() : undefined));
      assert.deepEqual([released.Plan, released.Status, released.Upgrade, released.Pieces], ['sealer', 'finalized', null, []]);
      assert.deepEqual([(await lastEvent())?.Event, (await lastEvent())?.FailureDesc], ['OrphanReleased', 'orphaned: no worker reported on it within 3s of allocation']);
      const pieces = await m.call<{ Status: string; Sector: string | null }[]>('SealFleet.PiecesList');
      assert.deepEqual(pieces.map((p) => [p.Status, p.Sector]), [['queued', null]], 'the snap-up gave its piece back');

      // The same for a rebuild: it waits for the next rebuild worker again.
      await m.call('SealFleet.SectorRebuild', [cc.id]);
      const rebuild = await m.call<{ Sector: AllocatedSector } | null>('Venus.AllocateRebuildSector', SPEC);
      assert.deepEqual(rebuild?.Sector.ID, cc.id);
      assert.equal((await state()).Stage, 'rebuilding');
      const queued = await eventually('the rebuild released', async () => ((await state()).Stage === 'rebuild_queued' ? state() : undefined));
      assert.deepEqual([queued.Plan, queued.Status], ['sealer', 'finalized']);
      assert.equal((await lastEvent())?.Event, 'OrphanReleased');
      const again = await m.call<{ Sector: AllocatedSector } | null>('Venus.AllocateRebuildSector', SPEC);
      assert.deepEqual(again?.Sector.ID, cc.id, 'the next rebuild worker gets it');
    } finally {
      await m.daemon.kill();
    }
  });
});
