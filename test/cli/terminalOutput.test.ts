import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SectorEvent, SectorSummary } from '../../src/manager/api/admin.js';
import type { AllocatedSector } from '../../src/core/wire/sealer.js';
import { startTestManager, type TestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';
import { FakeSealer } from '../helpers/sealing.js';

/** Clears the screen, sets the window title, then a one-byte C1 CSI, a tab, a right-to-left override. */
const HOSTILE = '\x1b[2J\x1b]0;pwned\x07\u009b31m\tx\u202eevil';
const SHOWN = '\\x1b[2J\\x1b]0;pwned\\x07\\x9b31m\\tx\\u202eevil';
/** Anything a terminal acts on; newlines only end lines. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

function assertInert(output: string, what: string): void {
  assert.doesNotMatch(output, RAW_CONTROL, `${what} printed raw control characters: ${JSON.stringify(output)}`);
}

describe('terminal output of wire strings (real CLI)', () => {
  let m: TestManager;
  let sector: AllocatedSector;
  const util = async (...args: string[]) => {
    const res = await runCli(MANAGER_BIN, ['util', ...args, '--home', m.home]);
    assertInert(res.stdout, `util ${args.join(' ')} (stdout)`);
    assertInert(res.stderr, `util ${args.join(' ')} (stderr)`);
    return res;
  };

  before(async () => {
    m = await startTestManager(tempDir('terminal'));
    sector = await m.call<AllocatedSector>('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]);
  });
  after(() => m.daemon.kill());

  it('a hostile worker Name is refused at the ping, and a CLI error naming one is escaped', async () => {
    // Names are refused at the wire (printable text only), so nothing hostile reaches `util worker list`.
    await assert.rejects(
      m.call('Venus.WorkerPing', [{ Name: HOSTILE, Dest: '127.0.0.1:1', Version: 'v', Summary: { Threads: 1, Empty: 1, Paused: 0, Running: 0, Waiting: 0, Errors: 0 } }]),
      /param 0\.Name: expected printable text/,
    );
    const list = await util('worker', 'list', '--json');
    assert.deepEqual(JSON.parse(list.stdout), []);
    // A hostile name typed on the command line fails through die(), whose line `util` checks for raw controls.
    const info = await util('worker', 'info', HOSTILE);
    assert.equal(info.code, 1);
    assert.match(info.stderr, /^error: invalid params for SealFleet.WorkerFind/);
  });

  it('util sealer sectors log and list escape a failure text and an abort reason', async () => {
    const s = new FakeSealer(m, sector);
    await s.report('Empty', 'Allocated', 'Allocate', { Level: 'Temporary', Desc: `disk says ${HOSTILE}\nsecond line` });
    const abort = await util('sealer', 'sectors', 'abort', `s-t01000-${sector.ID.Number}`, '--reason', `operator ${HOSTILE}`);
    assert.equal(abort.code, 0, abort.stderr);
    assert.match(abort.stdout, new RegExp(`abort requested \\(operator ${SHOWN.replace(/[\\[\]()]/g, (c) => `\\${c}`)}\\)`));

    const log = await util('sealer', 'sectors', 'log', `s-t01000-${sector.ID.Number}`);
    assert.equal(log.code, 0, log.stderr);
    assert.ok(log.stdout.includes(`Temporary: disk says ${SHOWN}\\nsecond line`), log.stdout);
    assert.match(log.stdout, new RegExp(`AbortRequested +sealer/allocated +operator ${SHOWN.replace(/[\\[\]()]/g, (c) => `\\${c}`)}`), 'the manager\'s own event row');
    const logJson = await util('sealer', 'sectors', 'log', `s-t01000-${sector.ID.Number}`, '--json');
    assert.equal((JSON.parse(logJson.stdout) as SectorEvent[]).find((e) => e.Worker !== 'manager')?.FailureDesc, `disk says ${HOSTILE}\nsecond line`);

    const list = await util('sealer', 'sectors', 'list');
    assert.ok(list.stdout.includes(`abort requested: operator ${SHOWN}`), list.stdout);
    const listJson = await util('sealer', 'sectors', 'list', '--json');
    assert.equal((JSON.parse(listJson.stdout) as SectorSummary[])[0]?.AbortRequested, `operator ${HOSTILE}`);
  });
});
