import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeSubmitWindowedPoSt, MinerMethod } from '../../src/chain/minerParams.js';
import { TEST_MINER, type TestDevnet } from './devnet.js';

/** The Window PoSt messages the devnet was sent, by deadline and proving period (of `period` epochs), from its own database. */
export function postMessages(net: TestDevnet, period: number, offset: number): { key: string; exitCode: number | null }[] {
  const db = new Database(join(net.home, 'devnet.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('select body, exit_code from messages').all() as { body: string; exit_code: number | null }[];
    return rows.flatMap(({ body, exit_code }) => {
      const msg = JSON.parse(body) as { Method: number; Params: string | null };
      if (msg.Method !== MinerMethod.SubmitWindowedPoSt) return [];
      const p = decodeSubmitWindowedPoSt(Buffer.from(msg.Params ?? '', 'base64'));
      return [{ key: `deadline ${p.deadline} of period ${Math.floor((p.chainCommitEpoch - offset) / period)}`, exitCode: exit_code }];
    });
  } finally {
    db.close();
  }
}

/** The deadline openings the devnet recorded a proof for. */
export function provenOpenings(net: TestDevnet): Set<number> {
  const db = new Database(join(net.home, 'devnet.db'), { readonly: true, fileMustExist: true });
  try {
    return new Set((db.prepare('select deadline_open from post_submissions where miner = ?').all(TEST_MINER.id) as { deadline_open: number }[]).map((r) => r.deadline_open));
  } finally {
    db.close();
  }
}
