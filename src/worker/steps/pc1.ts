import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { proverId } from '../../core/wire/processor.js';
import type { Step } from './context.js';
import { filesOf, proofName, required } from './common.js';

/** TicketAssigned (sealer) / TreeDBuilt (rebuild): PC1 over the staged file with the ticket. */
export const pc1: Step = async (ctx) => {
  const { task } = ctx;
  const files = filesOf(ctx);
  const sector = required(task.sector, 'sector');
  const ticket = required(task.ticket, 'ticket');
  await mkdir(dirname(files.sealed), { recursive: true });
  ctx.running('pc1');
  const pc1out = await ctx.processors.run('pc1', {
    registered_proof: proofName(task),
    cache_path: files.cache,
    in_path: files.staged,
    out_path: files.sealed,
    prover_id: proverId(sector.miner),
    sector_id: sector.number,
    ticket: Array.from(Buffer.from(ticket.Ticket, 'base64')),
    piece_infos: required(task.pieceInfos, 'piece infos'),
  });
  return { event: 'PC1', patch: { pc1out } };
};
