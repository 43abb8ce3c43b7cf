import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CID } from 'multiformats/cid';
import { minerEntropy } from '../../src/chain/address.js';
import { ExitCode } from '../../src/chain/exitCodes.js';
import {
  decodeBatchReturn,
  encodePreCommitSectorBatch2,
  encodeProveCommitSectors3,
  encodeProveReplicaUpdates3,
  MinerMethod,
} from '../../src/chain/minerParams.js';
import { DomainSeparationTag } from '../../src/chain/randomness.js';
import type { MsgLookup } from '../../src/chain/types.js';
import { commitmentToCid, zeroCommitment } from '../../src/core/commitment.js';
import { mockSealProof, mockUpdateProof } from '../../src/core/mockProof.js';
import { RPC_CODES, RpcError } from '../../src/core/rpc/errors.js';
import { startTestDevnet, TEST_DEVNET_TOML, type TestDevnet } from '../helpers/devnet.js';
import { tempDir } from '../helpers/processes.js';

const MINER = 't01000';
const WORKER = 't0100';
const ENTROPY = minerEntropy(1000);
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');
const commR = (n: number): Uint8Array => new Uint8Array(32).fill(n);
/** The devnet's deposit for one 2KiB sector (sector size × 10^6 attoFIL). */
const DEPOSIT = 2048n * 1_000_000n;

describe('devnet chain API (real process, real HTTP)', () => {
  let net: TestDevnet;

  before(async () => {
    net = await startTestDevnet(tempDir('devnet-api'), { toml: TEST_DEVNET_TOML });
  });
  after(() => net.daemon.kill());

  async function send(method: number, params: Uint8Array, opts: { from?: string; value?: bigint } = {}): Promise<MsgLookup> {
    const signed = await net.lotus.mpoolPushMessage({
      To: MINER,
      From: opts.from ?? WORKER,
      Value: (opts.value ?? 0n).toString(),
      Method: method,
      Params: b64(params),
    });
    await net.mine();
    const found = await net.lotus.stateSearchMsg(signed.CID);
    assert.ok(found, 'message executed in the next tipset');
    return found;
  }

  async function preCommit(number: number, opts: { ticketEpoch?: number; value?: bigint; from?: string; unsealed?: CID | null } = {}): Promise<{ lookup: MsgLookup; ticketEpoch: number }> {
    const head = await net.lotus.chainHead();
    const ticketEpoch = opts.ticketEpoch ?? head.Height - 1;
    const params = encodePreCommitSectorBatch2({
      sectors: [{
        sealProof: 5,
        sectorNumber: number,
        sealedCid: commitmentToCid('sealed', commR(number)),
        sealRandEpoch: ticketEpoch,
        dealIds: [],
        expiration: head.Height + 500,
        unsealedCid: opts.unsealed ?? null,
      }],
    });
    const lookup = await send(MinerMethod.PreCommitSectorBatch2, params, { value: opts.value ?? DEPOSIT, ...(opts.from ? { from: opts.from } : {}) });
    return { lookup, ticketEpoch };
  }

  async function sealProof(number: number, ticketEpoch: number, seedEpoch: number): Promise<Uint8Array> {
    const ticket = await net.lotus.stateGetRandomnessFromTickets(DomainSeparationTag.SealRandomness, ticketEpoch, ENTROPY);
    const seed = await net.lotus.stateGetRandomnessFromBeacon(DomainSeparationTag.InteractiveSealChallengeSeed, seedEpoch, ENTROPY);
    return mockSealProof({ miner: 1000, number, sealProof: 5, commR: commR(number), commD: zeroCommitment(2048), ticket, seed });
  }

  const proveParams = (number: number, proof: Uint8Array) =>
    encodeProveCommitSectors3({
      sectorActivations: [{ sectorNumber: number, pieces: [] }],
      sectorProofs: [proof],
      aggregateProof: new Uint8Array(),
      aggregateProofType: null,
      requireActivationSuccess: true,
      requireNotificationSuccess: true,
    });

  it('serves head, tipsets, network facts and actors', async () => {
    const head = await net.mine(5);
    assert.ok(head.Height >= 5);
    const again = await net.lotus.chainHead();
    assert.deepEqual(again.Cids, head.Cids);
    const at3 = await net.lotus.chainGetTipSetByHeight(3);
    assert.equal(at3.Height, 3);
    assert.deepEqual((await net.lotus.chainGetTipSet(at3.Cids)).Cids, at3.Cids);
    const at4 = await net.lotus.chainGetTipSetByHeight(4);
    assert.deepEqual(at4.Blocks[0]?.Parents, at3.Cids);
    await assert.rejects(net.lotus.chainGetTipSetByHeight(head.Height + 100), /height greater than start point/);
    await assert.rejects(net.lotus.chainGetTipSet([{ '/': 'bafy2bzaceunknown' }]), /not found/);
    assert.equal(await net.lotus.stateNetworkVersion(), 28);
    assert.equal(await net.lotus.stateNetworkName(), 'sealfleet-devnet');
    const params = await net.lotus.stateGetNetworkParams();
    assert.equal(params.PreCommitChallengeDelay, 3);
    assert.deepEqual(params.SupportedProofTypes, [5]);
    const info = await net.lotus.stateMinerInfo(MINER);
    assert.equal(info.SectorSize, 2048);
    assert.equal(info.Worker, WORKER);
    assert.equal(info.WindowPoStProofType, 10);
    assert.equal(await net.lotus.stateLookupID('f0100'), 't0100');
    await assert.rejects(net.lotus.stateLookupID('t09999'), /actor not found/);
    await assert.rejects(net.lotus.stateMinerInfo('t0100'), /not a miner/);
    const account = await net.lotus.stateGetActor(WORKER);
    assert.equal(account.Balance, (1000n * 10n ** 18n).toString());
    assert.equal(Buffer.from(CID.parse(account.Code['/']).multihash.digest).toString(), 'fil/18/account');
    assert.equal(Buffer.from(CID.parse((await net.lotus.stateGetActor(MINER)).Code['/']).multihash.digest).toString(), 'fil/18/storageminer');
  });

  it('draws deterministic randomness per tag, epoch and entropy, never from the future', async () => {
    const a = await net.lotus.stateGetRandomnessFromTickets(5, 2, ENTROPY);
    assert.equal(a.length, 32);
    assert.deepEqual(await net.lotus.stateGetRandomnessFromTickets(5, 2, ENTROPY), a);
    assert.notDeepEqual(await net.lotus.stateGetRandomnessFromTickets(6, 2, ENTROPY), a);
    assert.notDeepEqual(await net.lotus.stateGetRandomnessFromTickets(5, 3, ENTROPY), a);
    assert.notDeepEqual(await net.lotus.stateGetRandomnessFromTickets(5, 2, minerEntropy(1001)), a);
    assert.notDeepEqual(await net.lotus.stateGetRandomnessFromBeacon(5, 2, ENTROPY), a);
    const head = await net.lotus.chainHead();
    await assert.rejects(net.lotus.stateGetRandomnessFromTickets(5, head.Height + 5, ENTROPY), /cannot draw randomness from the future/);
  });

  it('pre-commits, proves with a mock proof after the seed epoch, and rejects a tampered proof', async () => {
    const deposit = await net.lotus.stateMinerPreCommitDepositForPower(MINER, {
      SealProof: 5, SectorNumber: 1, SealedCID: { '/': commitmentToCid('sealed', commR(1)).toString() }, SealRandEpoch: 1, DealIDs: null, Expiration: 1000, UnsealedCid: null,
    });
    assert.ok(deposit > 0n);
    const { lookup, ticketEpoch } = await preCommit(1, { value: deposit });
    assert.equal(lookup.Receipt.ExitCode, ExitCode.Ok);
    const pre = await net.lotus.stateSectorPreCommitInfo(MINER, 1);
    assert.ok(pre);
    assert.equal(pre.Info.SealRandEpoch, ticketEpoch);
    assert.equal(pre.PreCommitEpoch, lookup.Height);
    assert.equal(await net.lotus.stateMinerSectorAllocated(MINER, 1), true);
    assert.equal(await net.lotus.stateMinerSectorAllocated(MINER, 2), false);
    assert.equal(await net.lotus.stateSectorGetInfo(MINER, 1), null);

    const seedEpoch = pre.PreCommitEpoch + 3;
    await net.mine(4);
    const proof = await sealProof(1, ticketEpoch, seedEpoch);
    const tampered = Uint8Array.from(proof);
    tampered[40] = (tampered[40] as number) ^ 0xff;
    const bad = await send(MinerMethod.ProveCommitSectors3, proveParams(1, tampered));
    assert.equal(bad.Receipt.ExitCode, ExitCode.ErrIllegalArgument);

    const pledge = await net.lotus.stateMinerInitialPledgeForSector(500, 2048, 0n);
    assert.ok(pledge > 0n);
    const signed = await net.lotus.mpoolPushMessage({ To: MINER, From: WORKER, Value: pledge.toString(), Method: MinerMethod.ProveCommitSectors3, Params: b64(proveParams(1, proof)) });
    const waited = net.lotus.stateWaitMsg(signed.CID, 2, 30_000);
    await net.mine(3);
    const good = await waited;
    assert.equal(good.Receipt.ExitCode, ExitCode.Ok);
    assert.deepEqual(decodeBatchReturn(Buffer.from(good.Receipt.Return ?? '', 'base64')), { successCount: 1, failCodes: [] });
    const sector = await net.lotus.stateSectorGetInfo(MINER, 1);
    assert.ok(sector);
    assert.equal(sector.SealedCID['/'], commitmentToCid('sealed', commR(1)).toString());
    assert.equal(await net.lotus.stateSectorPreCommitInfo(MINER, 1), null);
    const where = await net.lotus.stateSectorPartition(MINER, 1);
    assert.equal(typeof where.Deadline, 'number');
    assert.ok((await net.lotus.stateMinerAvailableBalance(MINER)) >= 0n);

    // Snap the proven CC sector: one 2KiB piece fills it.
    const pieceComm = new Uint8Array(32).fill(0x21);
    const newCommR = commR(0x31);
    const updateProof = mockUpdateProof({ miner: 1000, number: 1, updateProof: 0, oldCommR: commR(1), newCommR, newCommD: pieceComm });
    const piece = { cid: commitmentToCid('unsealed', pieceComm), size: 2048, verifiedAllocationKey: null, notify: [] };
    const update = (proofBytes: Uint8Array) =>
      encodeProveReplicaUpdates3({
        sectorUpdates: [{ sector: 1, deadline: where.Deadline, partition: where.Partition, newSealedCid: commitmentToCid('sealed', newCommR), pieces: [piece] }],
        sectorProofs: [proofBytes],
        aggregateProof: new Uint8Array(),
        updateProofsType: 0,
        aggregateProofType: null,
        requireActivationSuccess: true,
        requireNotificationSuccess: true,
      });
    const wrongUpdate = await send(MinerMethod.ProveReplicaUpdates3, update(mockUpdateProof({ miner: 1000, number: 1, updateProof: 0, oldCommR: commR(1), newCommR, newCommD: zeroCommitment(2048) })));
    assert.equal(wrongUpdate.Receipt.ExitCode, ExitCode.ErrIllegalArgument);
    const snapped = await send(MinerMethod.ProveReplicaUpdates3, update(updateProof));
    assert.equal(snapped.Receipt.ExitCode, ExitCode.Ok);
    const after = await net.lotus.stateSectorGetInfo(MINER, 1);
    assert.equal(after?.SealedCID['/'], commitmentToCid('sealed', newCommR).toString());
    assert.equal(after?.SectorKeyCID?.['/'], commitmentToCid('sealed', commR(1)).toString());
    const again = await send(MinerMethod.ProveReplicaUpdates3, update(updateProof));
    assert.equal(again.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'a sector is updated once');
    // State as of an earlier tipset still shows the sector before the update.
    const before = await net.lotus.stateSectorGetInfo(MINER, 1, [{ '/': (await net.lotus.chainGetTipSetByHeight(good.Height)).Cids[0]?.['/'] ?? '' }]);
    assert.equal(before?.SectorKeyCID, null);
  });

  it('enforces the ticket lookback, future tickets and duplicate sector numbers', async () => {
    await net.mine(25);
    const head = await net.lotus.chainHead();
    const old = await preCommit(10, { ticketEpoch: head.Height - 30 });
    assert.equal(old.lookup.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'ticket older than the max lookback');
    const future = await preCommit(11, { ticketEpoch: head.Height + 5 });
    assert.equal(future.lookup.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'ticket from the future');
    assert.equal(await net.lotus.stateMinerSectorAllocated(MINER, 10), false, 'a refused pre-commit allocates nothing');
    assert.equal((await preCommit(12)).lookup.Receipt.ExitCode, ExitCode.Ok);
    assert.equal((await preCommit(12)).lookup.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'sector number 12 already allocated');
    assert.equal((await preCommit(1)).lookup.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'proven sector 1 keeps its number');
  });

  it('allows prove-commit only between the seed epoch and pre-commit expiry', async () => {
    const { lookup, ticketEpoch } = await preCommit(20);
    assert.equal(lookup.Receipt.ExitCode, ExitCode.Ok);
    const seedEpoch = lookup.Height + 3;
    // The seed epoch has been reached, but the actor wants it strictly in the past.
    await net.mine(2);
    assert.equal((await net.lotus.chainHead()).Height + 1, seedEpoch);
    const early = await send(MinerMethod.ProveCommitSectors3, proveParams(20, await sealProof(20, ticketEpoch, ticketEpoch)));
    assert.equal(early.Receipt.ExitCode, ExitCode.ErrForbidden, 'too early to prove');
    // Past max_prove_commit_duration (12): too late; after the clean-up delay (2) cron removes the pre-commit.
    await net.mine(9);
    assert.equal((await net.lotus.chainHead()).Height + 1, lookup.Height + 13, 'the next tipset is one past the deadline');
    const proof = await sealProof(20, ticketEpoch, seedEpoch);
    const late = await send(MinerMethod.ProveCommitSectors3, proveParams(20, proof));
    assert.equal(late.Receipt.ExitCode, ExitCode.ErrIllegalArgument, 'too late to prove');
    await net.mine(2);
    assert.equal(await net.lotus.stateSectorPreCommitInfo(MINER, 20), null, 'expired pre-commit removed by cron');
    assert.equal(await net.lotus.stateMinerSectorAllocated(MINER, 20), true, 'its number stays used');
    const gone = await send(MinerMethod.ProveCommitSectors3, proveParams(20, proof));
    assert.equal(gone.Receipt.ExitCode, ExitCode.ErrNotFound, 'no pre-commit to prove');
  });

  it('refuses wrong callers, missing funds, unknown methods and undecodable params', async () => {
    assert.equal((await preCommit(30, { from: 't0101', value: 0n })).lookup.Receipt.ExitCode, ExitCode.ErrForbidden);
    const balance = await net.lotus.stateMinerAvailableBalance(MINER);
    // Spend what is left on pre-commits that bring no value, then one more finds no funds.
    for (let n = 31; n < 31 + Number(balance / DEPOSIT); n++) {
      assert.equal((await preCommit(n, { value: 0n })).lookup.Receipt.ExitCode, ExitCode.Ok);
    }
    assert.equal((await preCommit(99, { value: 0n })).lookup.Receipt.ExitCode, ExitCode.ErrInsufficientFunds);
    assert.equal((await send(17, new Uint8Array())).Receipt.ExitCode, ExitCode.ErrUnhandledMessage);
    assert.equal((await send(MinerMethod.PreCommitSectorBatch2, new Uint8Array([0x83, 0x01]))).Receipt.ExitCode, ExitCode.ErrSerialization);
    const toNobody = await net.lotus.mpoolPushMessage({ To: 't05555', From: WORKER, Value: '0', Method: 0, Params: null });
    await net.mine();
    assert.equal((await net.lotus.stateSearchMsg(toNobody.CID))?.Receipt.ExitCode, ExitCode.SysErrInvalidReceiver);
  });

  it('validates params: bad JSON-RPC input gets errors and the devnet keeps serving', async () => {
    await assert.rejects(net.lotus.rpc.call('Filecoin.StateMinerInfo', ['not-an-address', null]), (e: RpcError) => e.code === RPC_CODES.InvalidParams || /invalid/.test(e.message));
    await assert.rejects(net.lotus.rpc.call('Filecoin.StateSectorGetInfo', [MINER, -1, null]), (e: RpcError) => e.code === RPC_CODES.InvalidParams);
    await assert.rejects(net.lotus.rpc.call('Filecoin.ChainHead', [1]), (e: RpcError) => e.code === RPC_CODES.InvalidParams);
    await assert.rejects(net.lotus.rpc.call('Filecoin.Nope', []), (e: RpcError) => e.code === RPC_CODES.MethodNotFound);
    await assert.rejects(
      net.lotus.mpoolPushMessage({ To: MINER, From: 't0101', Value: (10n ** 24n).toString(), Method: 0, Params: null }),
      /not enough funds/,
    );
    await assert.rejects(net.lotus.stateSearchMsg({ '/': 'bafy2bzacedeeblnjg6pq2htp5yyblbytljhuzutqyb62h2y4jkf5vkogo4y22' }), /failed to load message/);
    // A push repeated with the same MsgUuid is the same message, not a second one.
    const msg = { To: 't0101', From: WORKER, Value: '5', Method: 0, Params: null };
    const first = await net.lotus.mpoolPushMessage(msg, { MsgUuid: 'push-once' });
    const again = await net.lotus.mpoolPushMessage(msg, { MsgUuid: 'push-once' });
    assert.deepEqual(again.CID, first.CID);
    const other = await net.lotus.mpoolPushMessage(msg, { MsgUuid: 'push-twice' });
    assert.notDeepEqual(other.CID, first.CID);
    assert.ok((await net.lotus.chainHead()).Height > 0);
  });
});
