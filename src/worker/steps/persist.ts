import { permanent } from '../../core/errors.js';
import { storePaths } from '../paths.js';
import type { Step, StepContext } from './context.js';
import { idOf } from './context.js';
import { filesOf, poll, required, sectorSize } from './common.js';

/**
 * Reserves room in one of the `candidates` persist stores (polling while none has room) and copies the files
 * there, through this host's mount of the store the manager picked.
 */
async function persistTo(ctx: StepContext, what: 'sealed' | 'update', candidates: string[]): Promise<string> {
  if (candidates.length === 0) throw permanent(`no writable persist store is attached to this worker (attached: ${ctx.attached.describe()}): add an [[attached]] store`);
  const id = idOf(ctx.task);
  const size = sectorSize(ctx.task) * 2;
  const store = await poll(ctx, ctx.sealing.rpc_polling_interval, 'no persist store has room', async () => (await ctx.manager.reserveSpace(id, size, candidates)) ?? undefined);
  const local = filesOf(ctx);
  const remote = storePaths(ctx.attached.locate(store.Name, 'write'), required(ctx.task.sector, 'sector'));
  const routes =
    what === 'sealed'
      ? [{ src: local.sealed, dest: remote.sealed, is_dir: false }, { src: local.cache, dest: remote.cache, is_dir: true }]
      : [{ src: local.update, dest: remote.update, is_dir: false }, { src: local.updateCache, dest: remote.updateCache, is_dir: true }];
  ctx.running('transfer');
  await ctx.processors.run('transfer', { routes });
  return store.Name;
}

/** PCLanded (sealer) / SnapDone (rebuild): move the sealed file and cache to a persist store. */
export const persistSealed: Step = async (ctx) => {
  const instance = await persistTo(ctx, 'sealed', ctx.attached.writableNames());
  if (ctx.task.rebuild?.isSnapUp) await persistTo(ctx, 'update', [instance]);
  return { event: 'Persist', patch: { persistInstance: instance } };
};

/** SnapProved (snapup): move the new replica and its cache next to the sector's sealed file. */
export const persistUpdate: Step = async (ctx) => {
  const instance = await persistTo(ctx, 'update', [required(ctx.task.snap, 'snap-up info').accessInstance]);
  return { event: 'Persist', patch: { persistInstance: instance } };
};

/** Persisted (sealer, rebuild): the manager checks the files are in the store. */
export const submitPersisted: Step = async (ctx) => {
  const instance = required(ctx.task.persistInstance, 'persist instance');
  const ok = await ctx.manager.submitPersistedEx(idOf(ctx.task), instance, ctx.task.rebuild?.isSnapUp ?? false);
  if (!ok) throw permanent(`the manager did not find the sector's files in persist store ${instance}`);
  return { event: 'SubmitPersistance' };
};
