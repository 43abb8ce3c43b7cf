import { join } from 'node:path';
import Database from 'better-sqlite3';
import { precreatePrivateFile, PRIVATE_FILE, privateDir, tightenMode, type Tightened } from '../core/privateFiles.js';
import type { EventName, State } from '../core/plans/index.js';
import type { FailureLevel } from '../core/errors.js';
import type { ThreadEvent } from '../core/wire/workerControl.js';
import type { SectorTask } from './task.js';

export interface ThreadFlags {
  paused: boolean;
  pausedAt: number | null;
  lastError: string | null;
  draining: boolean;
}

export interface TaskEvent {
  at: number;
  sector: string | null;
  from: State;
  event: EventName | 'SetState' | 'Retry';
  to: State;
  level: FailureLevel | null;
  error: string | null;
  /** Milliseconds since the thread's previous event, when it logged one in this process. */
  tookMs: number | null;
  /** Of `tookMs`, the time the step spent in processors (waiting for a slot included): the rest is orchestration. */
  processorMs?: number;
}

/**
 * The sealing thread's own database, `<location>/meta/sealfleet.db`: the current sector task, the thread's
 * pause flags, and an append-only event log. A transition and its log row are one transaction. Without a
 * location (a wdpost thread) it is the same database in memory: gone with the process.
 */
export class LocationStore {
  private readonly db: Database.Database;

  /** Paths that were open to other users and were made private on opening (the caller warns). */
  readonly tightened: Tightened[] = [];

  constructor(location: string | null) {
    if (location === null) {
      this.db = new Database(':memory:');
    } else {
      const meta = join(location, 'meta');
      const path = join(meta, 'sealfleet.db');
      const tighten = (t: Tightened | null): void => {
        if (t) this.tightened.push(t);
      };
      tighten(privateDir(meta));
      precreatePrivateFile(path);
      for (const file of [path, `${path}-wal`, `${path}-shm`]) tighten(tightenMode(file, PRIVATE_FILE));
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
    }
    this.db.exec(`
      create table if not exists task (id integer primary key check (id = 1), body text not null);
      create table if not exists flags (id integer primary key check (id = 1), body text not null);
      create table if not exists events (
        id integer primary key autoincrement, at integer not null, sector text, from_state text not null,
        event text not null, to_state text not null, level text, error text, took_ms real, processor_ms real);
    `);
    // Threads whose database predates the durations get the columns; their earlier rows keep them null.
    const columns = new Set((this.db.prepare('select name from pragma_table_info(?)').all('events') as { name: string }[]).map((c) => c.name));
    for (const column of ['took_ms', 'processor_ms']) {
      if (!columns.has(column)) this.db.exec(`alter table events add column ${column} real`);
    }
  }

  close(): void {
    this.db.close();
  }

  loadTask(): SectorTask | null {
    const row = this.db.prepare('select body from task where id = 1').get() as { body: string } | undefined;
    return row ? (JSON.parse(row.body) as SectorTask) : null;
  }

  loadFlags(): ThreadFlags {
    const row = this.db.prepare('select body from flags where id = 1').get() as { body: string } | undefined;
    return row ? (JSON.parse(row.body) as ThreadFlags) : { paused: false, pausedAt: null, lastError: null, draining: false };
  }

  saveFlags(flags: ThreadFlags): void {
    this.db.prepare('insert into flags (id, body) values (1, ?) on conflict (id) do update set body = excluded.body').run(JSON.stringify(flags));
  }

  /** Writes the task (and the event that produced it, if any) in one transaction. */
  save(task: SectorTask, event?: TaskEvent): void {
    this.db.transaction(() => {
      this.db.prepare('insert into task (id, body) values (1, ?) on conflict (id) do update set body = excluded.body').run(JSON.stringify(task));
      if (event) this.append(event);
    })();
  }

  /** The last `limit` rows of the event log, oldest first. */
  recent(limit: number): ThreadEvent[] {
    return this.db
      .prepare(
        `select at, sector, from_state as "from", event, to_state as "to", level, error, took_ms, processor_ms
         from (select * from events order by id desc limit ?) order by id`,
      )
      .all(limit) as ThreadEvent[];
  }

  append(e: TaskEvent): void {
    this.db
      .prepare('insert into events (at, sector, from_state, event, to_state, level, error, took_ms, processor_ms) values (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(e.at, e.sector, e.from, e.event, e.to, e.level, e.error, e.tookMs, e.processorMs ?? null);
  }
}
