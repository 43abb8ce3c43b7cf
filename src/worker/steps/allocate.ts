import { sealProofForSize, isSectorSize } from '../../core/proofTypes.js';
import type { AllocationSpec } from '../managerClient.js';
import type { SealingConfig } from '../config.js';
import { emptyTask } from '../task.js';
import type { Step } from './context.js';
import { pollForTask } from './common.js';

export function allocationSpec(s: SealingConfig): AllocationSpec {
  return {
    AllowedMiners: s.allowed_miners,
    AllowedProofTypes: s.allowed_sizes ? s.allowed_sizes.filter(isSectorSize).map((size) => sealProofForSize(size).id) : null,
  };
}

const dealSpec = (s: SealingConfig) => ({ MaxDeals: s.enable_deals ? s.max_deals : 0, MinUsedSpace: s.min_deal_space });

/** Empty (sealer): ask for a new sector number until the manager has one for us. */
export const allocateSector: Step = async (ctx) => {
  const sector = await pollForTask(ctx, 'no sector to allocate', async () => (await ctx.manager.allocateSector(allocationSpec(ctx.sealing))) ?? undefined);
  return { event: 'Allocate', patch: { ...emptyTask(ctx.task.plan), sector: { miner: sector.ID.Miner, number: sector.ID.Number, proofType: sector.ProofType } } };
};

/** Empty (snapup): ask for a CC sector together with the deal pieces to put in it. */
export const allocateSnapUp: Step = async (ctx) => {
  const got = await pollForTask(ctx, 'no sector to snap up', async () => (await ctx.manager.allocateSnapUp(allocationSpec(ctx.sealing), dealSpec(ctx.sealing))) ?? undefined);
  return {
    event: 'AllocatedSnapUpSector',
    patch: {
      ...emptyTask(ctx.task.plan),
      sector: { miner: got.Sector.ID.Miner, number: got.Sector.ID.Number, proofType: got.Sector.ProofType },
      deals: got.Pieces,
      snap: { public: got.Public, accessInstance: got.Private.AccessInstance },
    },
  };
};

/** Empty (rebuild): take the next sector queued for a rebuild. */
export const allocateRebuild: Step = async (ctx) => {
  const got = await pollForTask(ctx, 'no sector to rebuild', async () => (await ctx.manager.allocateRebuild(allocationSpec(ctx.sealing))) ?? undefined);
  return {
    event: 'AllocatedRebuildSector',
    patch: {
      ...emptyTask(ctx.task.plan),
      sector: { miner: got.Sector.ID.Miner, number: got.Sector.ID.Number, proofType: got.Sector.ProofType },
      deals: got.PiecesV2 ?? [],
      ticket: got.Ticket,
      rebuild: { isSnapUp: got.IsSnapUp, upgradePublic: got.UpgradePublic },
    },
  };
};

