import Database from 'better-sqlite3';

/**
 * The devnet's persisted chain: tipsets, actors, the message pool with receipts, and the miner actors'
 * allocations, pre-commits and sectors. Pre-commit and sector rows carry the height range in which they
 * are valid, so state can be read as of any past tipset. Each tipset is written in one transaction, so
 * a devnet killed at any moment restarts from its last whole tipset.
 */
const SCHEMA = `
create table if not exists meta (key text primary key, value text not null);
create table if not exists tipsets (
  height integer primary key, cid text not null unique, parent text, timestamp integer not null,
  messages text not null);
create table if not exists accounts (id integer primary key, balance text not null, nonce integer not null);
create table if not exists miners (
  id integer primary key, info text not null, balance text not null, locked text not null);
create table if not exists messages (
  cid text primary key, sender integer not null, nonce integer not null, body text not null,
  pushed_at integer not null, height integer, exit_code integer, ret text, gas_used integer,
  uuid text unique, unique (sender, nonce));
create index if not exists messages_pending on messages (height) where height is null;
create table if not exists allocated (
  miner integer not null, number integer not null, height integer not null, primary key (miner, number));
create table if not exists precommits (
  miner integer not null, number integer not null, info text not null, deposit text not null,
  epoch integer not null, valid_from integer not null, valid_to integer);
create index if not exists precommits_by_sector on precommits (miner, number);
create table if not exists sectors (
  miner integer not null, number integer not null, info text not null,
  valid_from integer not null, valid_to integer);
create index if not exists sectors_by_sector on sectors (miner, number);
create table if not exists sector_proving (
  miner integer not null, number integer not null, deadline integer not null, partition integer not null,
  faulty integer not null default 0, recovering integer not null default 0, terminated integer not null default 0,
  primary key (miner, number));
create index if not exists sector_proving_by_partition on sector_proving (miner, deadline, partition);
create table if not exists post_submissions (
  miner integer not null, deadline_open integer not null, partition integer not null,
  primary key (miner, deadline_open, partition));
`;

export interface TipsetRow {
  height: number;
  cid: string;
  parent: string | null;
  timestamp: number;
  messages: string[];
}

export interface MessageRow {
  cid: string;
  /** The pusher's MsgUuid: a second push with the same one returns the first message. */
  uuid: string | null;
  sender: number;
  nonce: number;
  body: string;
  pushed_at: number;
  height: number | null;
  exit_code: number | null;
  ret: string | null;
  gas_used: number | null;
}

export interface AccountRow {
  id: number;
  balance: bigint;
  nonce: number;
}

export interface MinerRow {
  id: number;
  info: string;
  balance: bigint;
  locked: bigint;
}

export interface PreCommitRow {
  miner: number;
  number: number;
  info: string;
  deposit: bigint;
  epoch: number;
}

export interface SectorRow {
  miner: number;
  number: number;
  info: string;
}

/** Where a sector is proven and how: its deadline and partition, and the partition's view of it. */
export interface ProvingRow {
  miner: number;
  number: number;
  deadline: number;
  partition: number;
  faulty: boolean;
  recovering: boolean;
  /** Terminated or expired: still listed in its partition (as the actor keeps it until compaction), never proven. */
  terminated: boolean;
}

type RawProving = Omit<ProvingRow, 'faulty' | 'recovering' | 'terminated'> & { faulty: number; recovering: number; terminated: number };

const fromRawProving = (r: RawProving): ProvingRow => ({ ...r, faulty: r.faulty === 1, recovering: r.recovering === 1, terminated: r.terminated === 1 });

const asOf = 'valid_from <= @height and (valid_to is null or valid_to > @height)';

export class DevnetStore {
  readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
  }

  close(): void {
    this.db.close();
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  getMeta(key: string): string | undefined {
    const row = this.db.prepare('select value from meta where key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('insert into meta (key, value) values (?, ?) on conflict (key) do update set value = excluded.value').run(key, value);
  }

  head(): TipsetRow | undefined {
    const row = this.db.prepare('select * from tipsets order by height desc limit 1').get() as RawTipset | undefined;
    return row && fromRawTipset(row);
  }

  tipsetAt(height: number): TipsetRow | undefined {
    const row = this.db.prepare('select * from tipsets where height = ?').get(height) as RawTipset | undefined;
    return row && fromRawTipset(row);
  }

  tipsetByCid(cid: string): TipsetRow | undefined {
    const row = this.db.prepare('select * from tipsets where cid = ?').get(cid) as RawTipset | undefined;
    return row && fromRawTipset(row);
  }

  insertTipset(t: TipsetRow): void {
    this.db
      .prepare('insert into tipsets (height, cid, parent, timestamp, messages) values (?, ?, ?, ?, ?)')
      .run(t.height, t.cid, t.parent, t.timestamp, JSON.stringify(t.messages));
  }

  account(id: number): AccountRow | undefined {
    const row = this.db.prepare('select * from accounts where id = ?').get(id) as RawBalance<AccountRow> | undefined;
    return row && { ...row, balance: BigInt(row.balance) };
  }

  putAccount(a: AccountRow): void {
    this.db
      .prepare('insert into accounts (id, balance, nonce) values (?, ?, ?) on conflict (id) do update set balance = excluded.balance, nonce = excluded.nonce')
      .run(a.id, a.balance.toString(), a.nonce);
  }

  miner(id: number): MinerRow | undefined {
    const row = this.db.prepare('select * from miners where id = ?').get(id) as (Omit<MinerRow, 'balance' | 'locked'> & { balance: string; locked: string }) | undefined;
    return row && { ...row, balance: BigInt(row.balance), locked: BigInt(row.locked) };
  }

  putMiner(m: MinerRow): void {
    this.db
      .prepare('insert into miners (id, info, balance, locked) values (?, ?, ?, ?) on conflict (id) do update set info = excluded.info, balance = excluded.balance, locked = excluded.locked')
      .run(m.id, m.info, m.balance.toString(), m.locked.toString());
  }

  insertMessage(m: Pick<MessageRow, 'cid' | 'uuid' | 'sender' | 'nonce' | 'body' | 'pushed_at'>): void {
    this.db
      .prepare('insert into messages (cid, uuid, sender, nonce, body, pushed_at) values (?, ?, ?, ?, ?, ?)')
      .run(m.cid, m.uuid, m.sender, m.nonce, m.body, m.pushed_at);
  }

  messageByUuid(uuid: string): MessageRow | undefined {
    return this.db.prepare('select * from messages where uuid = ?').get(uuid) as MessageRow | undefined;
  }

  message(cid: string): MessageRow | undefined {
    return this.db.prepare('select * from messages where cid = ?').get(cid) as MessageRow | undefined;
  }

  pendingMessages(): MessageRow[] {
    return this.db.prepare('select * from messages where height is null order by pushed_at, sender, nonce').all() as MessageRow[];
  }

  /** The next nonce for a sender: one past its highest pushed message, or its account nonce. */
  nextNonce(sender: number): number {
    const row = this.db.prepare('select max(nonce) as n from messages where sender = ?').get(sender) as { n: number | null };
    return Math.max(row.n === null ? 0 : row.n + 1, this.account(sender)?.nonce ?? 0);
  }

  setReceipt(cid: string, height: number, exitCode: number, ret: string | null, gasUsed: number): void {
    this.db
      .prepare('update messages set height = ?, exit_code = ?, ret = ?, gas_used = ? where cid = ?')
      .run(height, exitCode, ret, gasUsed, cid);
  }

  isAllocated(miner: number, number: number, height: number): boolean {
    return !!this.db.prepare('select 1 from allocated where miner = ? and number = ? and height <= ?').get(miner, number, height);
  }

  allocate(miner: number, number: number, height: number): void {
    this.db.prepare('insert into allocated (miner, number, height) values (?, ?, ?)').run(miner, number, height);
  }

  preCommit(miner: number, number: number, height: number): PreCommitRow | undefined {
    const row = this.db
      .prepare(`select miner, number, info, deposit, epoch from precommits where miner = @miner and number = @number and ${asOf}`)
      .get({ miner, number, height }) as (Omit<PreCommitRow, 'deposit'> & { deposit: string }) | undefined;
    return row && { ...row, deposit: BigInt(row.deposit) };
  }

  insertPreCommit(p: PreCommitRow, height: number): void {
    this.db
      .prepare('insert into precommits (miner, number, info, deposit, epoch, valid_from) values (?, ?, ?, ?, ?, ?)')
      .run(p.miner, p.number, p.info, p.deposit.toString(), p.epoch, height);
  }

  endPreCommit(miner: number, number: number, height: number): void {
    this.db.prepare('update precommits set valid_to = ? where miner = ? and number = ? and valid_to is null').run(height, miner, number);
  }

  /** Live pre-commits whose prove-commit window closed before `height`. */
  expiredPreCommits(beforeEpoch: number): PreCommitRow[] {
    const rows = this.db
      .prepare('select miner, number, info, deposit, epoch from precommits where valid_to is null and epoch < ?')
      .all(beforeEpoch) as (Omit<PreCommitRow, 'deposit'> & { deposit: string })[];
    return rows.map((r) => ({ ...r, deposit: BigInt(r.deposit) }));
  }

  sector(miner: number, number: number, height: number): SectorRow | undefined {
    return this.db
      .prepare(`select miner, number, info from sectors where miner = @miner and number = @number and ${asOf}`)
      .get({ miner, number, height }) as SectorRow | undefined;
  }

  /** Replaces the live version of a sector (or adds the first one) from `height` on. */
  putSector(s: SectorRow, height: number): void {
    this.db.prepare('update sectors set valid_to = ? where miner = ? and number = ? and valid_to is null').run(height, s.miner, s.number);
    this.db.prepare('insert into sectors (miner, number, info, valid_from) values (?, ?, ?, ?)').run(s.miner, s.number, s.info, height);
  }

  putProving(p: ProvingRow): void {
    this.db
      .prepare(
        `insert into sector_proving (miner, number, deadline, partition, faulty, recovering, terminated) values (?, ?, ?, ?, ?, ?, ?)
         on conflict (miner, number) do update set deadline = excluded.deadline, partition = excluded.partition,
           faulty = excluded.faulty, recovering = excluded.recovering, terminated = excluded.terminated`,
      )
      .run(p.miner, p.number, p.deadline, p.partition, Number(p.faulty), Number(p.recovering), Number(p.terminated));
  }

  proving(miner: number, number: number): ProvingRow | undefined {
    const row = this.db.prepare('select * from sector_proving where miner = ? and number = ?').get(miner, number) as RawProving | undefined;
    return row && fromRawProving(row);
  }

  /** Every sector the miner has placed in deadlines, by deadline, partition and number. */
  provingSectors(miner: number): ProvingRow[] {
    const rows = this.db.prepare('select * from sector_proving where miner = ? order by deadline, partition, number').all(miner) as RawProving[];
    return rows.map(fromRawProving);
  }

  deadlineSectors(miner: number, deadline: number): ProvingRow[] {
    const rows = this.db.prepare('select * from sector_proving where miner = ? and deadline = ? order by partition, number').all(miner, deadline) as RawProving[];
    return rows.map(fromRawProving);
  }

  recordPost(miner: number, deadlineOpen: number, partition: number): void {
    this.db.prepare('insert into post_submissions (miner, deadline_open, partition) values (?, ?, ?)').run(miner, deadlineOpen, partition);
  }

  /** Partitions proven in the deadline that opened at `deadlineOpen`. */
  postedPartitions(miner: number, deadlineOpen: number): number[] {
    const rows = this.db.prepare('select partition from post_submissions where miner = ? and deadline_open = ? order by partition').all(miner, deadlineOpen) as { partition: number }[];
    return rows.map((r) => r.partition);
  }

  /** Ends a sector's on-chain life (terminated or expired) at `height`. */
  endSector(miner: number, number: number, height: number): void {
    this.db.prepare('update sectors set valid_to = ? where miner = ? and number = ? and valid_to is null').run(height, miner, number);
  }

  sectorCount(miner: number, height: number): number {
    const row = this.db.prepare(`select count(*) as n from sectors where miner = @miner and ${asOf}`).get({ miner, height }) as { n: number };
    return row.n;
  }
}

type RawTipset = Omit<TipsetRow, 'messages'> & { messages: string };
type RawBalance<T> = Omit<T, 'balance'> & { balance: string };

function fromRawTipset(row: RawTipset): TipsetRow {
  return { ...row, messages: JSON.parse(row.messages) as string[] };
}
