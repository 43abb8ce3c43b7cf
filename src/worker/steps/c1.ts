import { describeError, failureLevelOf, permanent } from '../../core/errors.js';
import { proverId } from '../../core/wire/processor.js';
import type { Step, StepContext } from './context.js';
import { filesOf, proofName, required } from './common.js';

async function runC1(ctx: StepContext, seed: number[]): Promise<unknown> {
  const { task } = ctx;
  const sector = required(task.sector, 'sector');
  const files = filesOf(ctx);
  ctx.running('c1');
  return ctx.processors.run('c1', {
    registered_proof: proofName(task),
    cache_path: files.cache,
    replica_path: files.sealed,
    prover_id: proverId(sector.miner),
    sector_id: sector.number,
    ticket: Array.from(Buffer.from(required(task.ticket, 'ticket').Ticket, 'base64')),
    seed,
    comm_r: required(task.commR, 'CommR'),
    comm_d: required(task.commD, 'CommD'),
    piece_infos: required(task.pieceInfos, 'piece infos'),
  });
}

/** SeedAssigned: C1 with the seed. */
export const c1: Step = async (ctx) => {
  const seed = Array.from(Buffer.from(required(ctx.task.seed, 'seed').Seed, 'base64'));
  return { event: 'C1', patch: { c1out: await runC1(ctx, seed) } };
};

/** A seed for a C1 run as a check: the seed only picks the challenges. */
const zeroSeed = (): number[] => new Array<number>(32).fill(0);

/** PC2Done (rebuild): C1 over the rebuilt replica checks it is sound. */
export const checkSealed: Step = async (ctx) => {
  await runC1(ctx, zeroSeed());
  return { event: 'CheckSealed' };
};

/**
 * `verify_after_pc2`: C1 with a zero seed over the PC2 output, before it goes on chain. A processor that
 * could not run (temporary) is retried; a C1 that fails is the replica's or the commitments' fault.
 */
export async function verifyAfterPc2(ctx: StepContext): Promise<void> {
  try {
    await runC1(ctx, zeroSeed());
  } catch (err) {
    if (failureLevelOf(err) === 'Temporary') throw err;
    throw permanent(`verify_after_pc2: C1 with a zero seed over the PC2 output failed, so no PreCommit was submitted (resume in PC1Done to run PC2 again): ${describeError(err)}`);
  }
}
