import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { SectorSummary } from '../../src/manager/api/admin.js';
import { defaultDevnetConfig } from '../../src/manager/config.js';
import { eventually, startTestManager } from '../helpers/manager.js';
import { freePort, MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { startTestWorker, WORKER_BIN, writeWorkerConfig } from '../helpers/worker.js';

describe('persist stores by name', () => {
  it('finds stores by sectorstore.json, pauses a snap-up on a store the worker lacks, and goes on once it is attached', async () => {
    const home = tempDir('stores');
    const local = join(home, 'persist');
    const other = join(home, 'persist-b');
    const m = await startTestManager(home, { managerToml: `${defaultDevnetConfig(local)}\n[[persist_stores]]\nname = "b"\npath = ${JSON.stringify(other)}\n` });
    const sectors = (status: string) => m.call<SectorSummary[]>('SealFleet.SectorsList', [{ Status: status }]);
    try {
      // The sealing worker finds the store "local" by the sectorstore.json in it, through its own mount (a
      // symlink here) matched by worker.scan_persist_stores.
      const dir1 = tempDir('stores-sealer');
      mkdirSync(join(dir1, 'mnt'));
      symlinkSync(local, join(dir1, 'mnt', 'store-1'));
      writeFileSync(join(local, 'sectorstore.json'), JSON.stringify({ ID: 'a1b2', Name: 'local', ReadOnly: false, Weight: 1 }));
      const sealerConfig = await writeWorkerConfig(dir1, m, { threads: [{ plan: 'sealer' }], attached: [], worker: 'scan_persist_stores = ["mnt/store-?", "mnt/nothing-*"]' });
      const sealer = await startTestWorker(sealerConfig);
      let cc: SectorSummary;
      try {
        cc = await eventually('a sealed CC sector', async () => (await sectors('finalized'))[0], 60_000);
      } finally {
        await sealer.daemon.kill();
      }
      assert.ok(existsSync(join(local, 'sealed', cc.Sector)), 'the sealed file is in the store');

      // The snap-up worker has only store "b": the CC sector's replica is in "local", which it cannot reach.
      const payload = join(tempDir('stores-deal'), 'deal.bin');
      writeFileSync(payload, randomBytes(600));
      assert.equal((await runCli(MANAGER_BIN, ['util', 'deals', 'import', payload, '--home', home])).code, 0);
      const dir2 = tempDir('stores-snap');
      const snapOnly = { threads: [{ plan: 'snapup' }], port: await freePort() };
      const snapConfig = await writeWorkerConfig(dir2, m, { ...snapOnly, attached: [{ name: 'b', location: other }] });
      let snap = await startTestWorker(snapConfig);
      try {
        const paused = await eventually('snap-up thread paused', async () => {
          const [t] = await snap.list();
          return t?.thread_state.state === 'Paused' ? t : undefined;
        }, 60_000);
        assert.equal(paused.job_id, cc.Sector);
        assert.equal(paused.job_state, 'TreeDBuilt');
        assert.match(paused.last_error ?? '', /persist store "local" is not attached to this worker \(attached: "b"\): add an \[\[attached\]\] store named "local"/);
        assert.equal((await sectors('sealing')).find((s) => s.Sector === cc.Sector)?.Plan, 'snapup', 'the sector is kept, not aborted');
        assert.ok(existsSync(join(local, 'sealed', cc.Sector)), 'its replica is untouched');
      } finally {
        await snap.daemon.kill();
      }

      // The operator attaches "local" (at this host's own path onto it) and restarts; resuming finishes the snap-up.
      mkdirSync(join(dir2, 'mnt'));
      symlinkSync(local, join(dir2, 'mnt', 'local'));
      await writeWorkerConfig(dir2, m, { ...snapOnly, attached: [{ name: 'b', location: other }, { name: 'local', location: join(dir2, 'mnt', 'local') }] });
      snap = await startTestWorker(snapConfig);
      try {
        assert.equal((await runCli(WORKER_BIN, ['worker', '-c', snapConfig, 'resume', '--index', '0'])).code, 0);
        await eventually('the snap-up finished', async () => ((await sectors('finalized')).find((s) => s.Sector === cc.Sector && s.Plan === 'snapup') ? true : undefined), 60_000);
        assert.ok(existsSync(join(local, 'update', cc.Sector)), 'the new replica is next to the old one');
      } finally {
        await snap.daemon.kill();
      }
    } finally {
      await m.daemon.kill();
    }
  });

  it('refuses to start on a bad sectorstore.json or a scanned store whose name is attached already, naming both', async () => {
    const m = { url: 'http://127.0.0.1:1', home: tempDir('stores-refusals') };
    writeFileSync(join(m.home, 'token'), 'unused');
    const dir = tempDir('stores-refusals-worker');
    const store = join(dir, 'stores', 'one');
    mkdirSync(store, { recursive: true });
    const start = async (attached: { name: string; location: string }[]) => {
      const config = await writeWorkerConfig(dir, m, { attached, worker: 'ScanPersistStores = ["stores/*"]' });
      return runCli(WORKER_BIN, ['daemon', '-c', config]);
    };

    writeFileSync(join(store, 'sectorstore.json'), '{"ID": "one", ');
    const broken = await start([]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, new RegExp(`persist store file ${join(store, 'sectorstore.json')} \\(found by worker.scan_persist_stores "stores/\\*"\\): .*JSON`));

    writeFileSync(join(store, 'sectorstore.json'), JSON.stringify({ ID: 'one', Name: 7 }));
    const wrongType = await start([]);
    assert.equal(wrongType.code, 1);
    assert.match(wrongType.stderr, /Name: .*expected string/);

    writeFileSync(join(store, 'sectorstore.json'), JSON.stringify({ ID: 'one', Name: 'nfs' }));
    const clash = await start([{ name: 'nfs', location: '/mnt/nfs' }]);
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, new RegExp(`the persist store "nfs" of ${join(store, 'sectorstore.json')} \\(worker.scan_persist_stores\\) has the name of attached.0 \\(location /mnt/nfs\\)`));
  });
});
