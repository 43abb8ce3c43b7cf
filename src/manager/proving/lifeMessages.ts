import { z } from 'zod';
import type { LotusClient } from '../../chain/client.js';
import { MinerMethod } from '../../chain/minerParams.js';
import type { Logger } from '../../core/log.js';
import { formatSectorId } from '../../core/sectorId.js';
import type { SectorID } from '../../core/wire/sealer.js';
import type { MinerFacts } from '../commitment/miners.js';
import { unlessBusy } from '../db/locks.js';
import type { ManagerDb } from '../db/open.js';
import type { LifeMessagesTable } from '../db/schema.js';
import type { DbDialect } from '../db/target.js';
import type { LifeTransition } from '../sectors/lifecycle.js';
import type { SectorStore } from '../sectors/store.js';
import { pushMinerMessage } from './minerMessage.js';

/** The events a miner message about sectors records once it lands. */
export type LifeMessageEvent = Extract<LifeTransition, 'FaultDeclared' | 'RecoveryDeclared' | 'ExpirationExtended' | 'Terminated'>;

/** Each sector the message is about, with what its history says once it lands. */
const Sectors = z.array(z.object({ number: z.number().int(), desc: z.string() }));
export type LifeMessageSector = z.infer<typeof Sectors>[number];

const METHOD_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(MinerMethod).map(([name, n]) => [n, name]));

/**
 * Miner messages about sealed sectors' life (fault and recovery declarations, extensions, terminations),
 * kept in the database from their push to their receipt: a sector's history records what landed on chain,
 * not what was asked, and a failed message is recorded as such. Any manager on the database watches them,
 * so one pushed before a restart, or by another manager, is still recorded.
 */
export class LifeMessages {
  constructor(
    private readonly deps: { db: ManagerDb; dialect: DbDialect; lotus: LotusClient; records: SectorStore; log: Logger },
  ) {}

  /** Pushes `method` and keeps the message to watch; returns its CID. */
  async send(m: MinerFacts, method: number, params: Uint8Array, event: LifeMessageEvent, sectors: LifeMessageSector[]): Promise<string> {
    const cid = await pushMinerMessage(this.deps.lotus, m, method, params);
    const now = Date.now();
    // Pushed before it is written: a manager killed in between loses the history events, never the message.
    await this.deps.db
      .insertInto('life_messages')
      .values({ cid, miner: m.config.id, method, event, sectors: JSON.stringify(sectors), state: 'pushed', exit_code: null, height: null, created_at: now, updated_at: now })
      .execute();
    return cid;
  }

  /** Whether a message of one of `events` for miner `miner` is still waiting for its receipt. */
  async pending(miner: number, events: readonly LifeMessageEvent[]): Promise<boolean> {
    const row = await this.deps.db.selectFrom('life_messages').select('cid').where('miner', '=', miner).where('state', '=', 'pushed').where('event', 'in', events).executeTakeFirst();
    return row !== undefined;
  }

  /** One look at every message still waiting: a landed one is recorded in its sectors' histories, a failed one too, as failed. */
  async watch(): Promise<void> {
    await unlessBusy(this.deps.db, this.deps.dialect, 'life-messages', async () => {
      const rows = await this.deps.db.selectFrom('life_messages').selectAll().where('state', '=', 'pushed').orderBy('created_at').execute();
      for (const row of rows) await this.look(row);
    });
  }

  private async look(row: LifeMessagesTable): Promise<void> {
    const found = await this.deps.lotus.stateSearchMsg({ '/': row.cid });
    if (!found) return;
    const exitCode = found.Receipt.ExitCode;
    // Claimed by the update: another manager that saw the same receipt records nothing twice.
    const claimed = await this.deps.db
      .updateTable('life_messages')
      .set({ state: exitCode === 0 ? 'landed' : 'failed', exit_code: exitCode, height: found.Height, updated_at: Date.now() })
      .where('cid', '=', row.cid)
      .where('state', '=', 'pushed')
      .executeTakeFirst();
    if (Number(claimed.numUpdatedRows) !== 1) return;
    const method = METHOD_NAMES[row.method] ?? `method ${row.method}`;
    if (exitCode !== 0) this.deps.log.error({ miner: row.miner, cid: row.cid, method, exitCode }, `${method} message failed on chain`);
    for (const s of Sectors.parse(JSON.parse(row.sectors))) {
      const id = { Miner: Number(row.miner), Number: s.number };
      if (exitCode === 0) await recordSectorLife(this.deps, id, row.event, `${s.desc}; message ${row.cid} landed at epoch ${found.Height}`);
      else await recordSectorLife(this.deps, id, 'ChainMessageFailed', `${method} (${row.event}) failed with exit code ${exitCode}: ${s.desc}; message ${row.cid} at epoch ${found.Height}`);
    }
  }
}

/** Records `event` in the sector's history; a sector this manager did not seal has none, and the log line is its record. */
export async function recordSectorLife(d: { records: SectorStore; log: Logger }, id: SectorID, event: LifeTransition, desc: string): Promise<void> {
  if (!(await d.records.get(id))) {
    d.log.warn({ sector: formatSectorId({ miner: id.Miner, number: id.Number }), event, desc }, 'sector without a record');
    return;
  }
  await d.records.recordLife(id, event, desc);
}
