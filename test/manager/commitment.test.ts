import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OnChainState, SubmitResult, type AllocatedSector, type PollStateResp, type SubmitResp } from '../../src/core/wire/sealer.js';
import { startTestDevnet } from '../helpers/devnet.js';
import { eventually, FAST_DEVNET_TOML, managerDbArgs } from '../helpers/manager.js';
import { MANAGER_BIN, spawnCli, tempDir } from '../helpers/processes.js';
import { FakeSealer } from '../helpers/sealing.js';
import { RpcClient } from '../../src/core/rpc/client.js';

const SPEC = [{ AllowedMiners: null, AllowedProofTypes: null }];

describe('manager against an external chain node', () => {
  it('batches pre-commits by threshold, stops at max_number, reserves store space, and reports failed proofs', async () => {
    const devnetHome = tempDir('external-devnet');
    const net = await startTestDevnet(devnetHome, { toml: FAST_DEVNET_TOML });
    const home = tempDir('manager-external');
    const storeA = join(home, 'store-a');
    const storeB = join(home, 'store-b');
    mkdirSync(storeA, { recursive: true });
    writeFileSync(join(home, 'manager.toml'), `
[chain]
seal_randomness_lookback = 5
seed_confidence = 1
message_confidence = 1
poll_interval = "200ms"

[[miners]]
id = 1000
sender = "t0100"
[miners.sector]
init_number = 10
max_number = 13
[miners.commitment]
pre_batch_threshold = 2
pre_batch_max_wait = "1h"

[[persist_stores]]
name = "a"
path = "${storeA}"

[[persist_stores]]
name = "b"
path = "${storeB}"
read_only = true
`);
    const daemon = spawnCli(MANAGER_BIN, ['daemon', '--home', home, '--chain-api', net.url, '--listen', '127.0.0.1:0', ...(await managerDbArgs(home))]);
    try {
      const url = (JSON.parse(await daemon.waitFor(/"manager up"/, 20_000)) as { url: string }).url;
      const rpc = new RpcClient({ url: `${url}/rpc/v0`, token: readFileSync(join(home, 'token'), 'utf8').trim() });
      const m = { home, url, rpc, daemon, call: <T>(method: string, params: unknown[] = []) => rpc.call<T>(method, params) };

      const a = new FakeSealer(m, await m.call<AllocatedSector>('Venus.AllocateSector', SPEC));
      const b = new FakeSealer(m, await m.call<AllocatedSector>('Venus.AllocateSector', SPEC));
      const c = await m.call<AllocatedSector>('Venus.AllocateSector', SPEC);
      assert.deepEqual([a.id.Number, b.id.Number, c.ID.Number], [11, 12, 13], 'numbers start after init_number');
      assert.equal(await m.call('Venus.AllocateSector', SPEC), null, 'max_number reached');

      await a.prepare();
      assert.equal((await a.submitPreCommit()).Res, SubmitResult.Accepted);
      await net.mine(3);
      await new Promise((r) => setTimeout(r, 600));
      const waiting = await m.call<PollStateResp>('Venus.PollPreCommitState', [a.id]);
      assert.equal(waiting.State, OnChainState.Pending, 'one sector does not fill a batch of two');
      await b.prepare();
      assert.equal((await b.submitPreCommit()).Res, SubmitResult.Accepted);
      const message = await eventually('batch pushed', async () => {
        const sa = await m.call<{ PreCommitMessage: string | null }>('SealFleet.SectorState', [a.id]);
        return sa.PreCommitMessage ?? undefined;
      });
      const sb = await m.call<{ PreCommitMessage: string | null }>('SealFleet.SectorState', [b.id]);
      assert.equal(sb.PreCommitMessage, message, 'both sectors went in one PreCommitSectorBatch2');
      await eventually('batch landed', async () => {
        await net.mine();
        const s = await m.call<PollStateResp>('Venus.PollPreCommitState', [a.id]);
        return s.State === OnChainState.Landed ? s : undefined;
      });
      assert.ok(await net.lotus.stateSectorPreCommitInfo('t01000', 12), 'sector 12 pre-committed by the same message');

      const r1 = await m.call<{ Name: string } | null>('Venus.StoreReserveSpace', [a.id, 1024, []]);
      assert.equal(r1?.Name, 'a', 'the read-only store is never chosen');
      assert.deepEqual(await m.call('Venus.StoreReserveSpace', [a.id, 1024, []]), r1, 'same size again: same store');
      assert.equal(await m.call('Venus.StoreReserveSpace', [b.id, 1024, ['b']]), null, 'no writable candidate');
      assert.equal(await m.call('Venus.StoreReserveSpace', [b.id, 2 ** 52, []]), null, 'no room');

      // A proof that does not verify fails its message: the worker hears PermFailed.
      await eventually('seed', async () => {
        await net.mine();
        const r = await m.call<{ ShouldWait: boolean }>('Venus.WaitSeed', [a.id, 5]);
        return r.ShouldWait ? undefined : r;
      });
      assert.equal((await m.call<SubmitResp>('Venus.SubmitProof', [a.id, { Proof: Buffer.alloc(192, 7).toString('base64') }, false])).Res, SubmitResult.Accepted);
      const failed = await eventually('proof message failed', async () => {
        await net.mine();
        const s = await m.call<PollStateResp>('Venus.PollProofState', [a.id]);
        return s.State === OnChainState.PermFailed ? s : undefined;
      });
      assert.match(failed.Desc ?? '', /exit code 16 \(ErrIllegalArgument\)/);
    } finally {
      await daemon.kill();
      await net.daemon.kill();
    }
  });

  it('refuses to start on a bad config or conflicting flags, with one clear line', async () => {
    const home = tempDir('manager-badcfg');
    writeFileSync(join(home, 'manager.toml'), '[[miners]]\nid = 1000\nsender = "t0100"\n[miners.sector]\nmax_numbr = 3\n');
    const run = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawnCli(MANAGER_BIN, args);
      void p.exited.then((code) => resolve({ code, stderr: p.stderr() }));
    });
    const bad = await run(['daemon', '--home', home, '--chain-api', 'http://127.0.0.1:9/rpc/v1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid manager config .*manager\.toml: unknown key miners\.0\.sector\.max_numbr/);
    const both = await run(['daemon', '--home', home, '--devnet', '--chain-api', 'http://x/rpc/v1']);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /--devnet and --chain-api exclude each other/);
    const noChain = await run(['daemon', '--home', tempDir('manager-nochain')]);
    assert.equal(noChain.code, 1);
    assert.match(noChain.stderr, /manager config .* does not exist: write one, or start with --devnet/);
  });
});
