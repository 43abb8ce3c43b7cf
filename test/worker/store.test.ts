import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { LocationStore } from '../../src/worker/store.js';
import { tempDir } from '../helpers/processes.js';

describe('sealing thread store', () => {
  it('adds the duration columns to a log written before they existed, keeping its rows', () => {
    const location = tempDir('store');
    mkdirSync(join(location, 'meta'));
    const old = new Database(join(location, 'meta', 'sealfleet.db'));
    old.exec(`create table events (
      id integer primary key autoincrement, at integer not null, sector text, from_state text not null,
      event text not null, to_state text not null, level text, error text);
      insert into events (at, sector, from_state, event, to_state) values (1, 's-t01000-1', 'Empty', 'Allocate', 'Allocated');`);
    old.close();

    const store = new LocationStore(location);
    store.append({ at: 2, tookMs: 1.25, processorMs: 0.5, sector: 's-t01000-1', from: 'Allocated', event: 'AcquireDeals', to: 'DealsAcquired', level: null, error: null });
    store.close();

    const db = new Database(join(location, 'meta', 'sealfleet.db'), { readonly: true });
    const rows = db.prepare('select event, took_ms, processor_ms from events order by id').all();
    db.close();
    assert.deepEqual(rows, [
      { event: 'Allocate', took_ms: null, processor_ms: null },
      { event: 'AcquireDeals', took_ms: 1.25, processor_ms: 0.5 },
    ]);
    // Opening again finds the columns there and changes nothing.
    new LocationStore(location).close();
  });
});
