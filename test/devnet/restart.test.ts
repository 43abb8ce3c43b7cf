import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode } from '../../src/chain/exitCodes.js';
import { startTestDevnet } from '../helpers/devnet.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';

describe('devnet process', () => {
  it('advances with the block time, and after SIGKILL resumes from its last persisted tipset', async () => {
    const home = tempDir('devnet-restart');
    const first = await startTestDevnet(home, { blockTime: '200ms' });
    const h0 = (await first.lotus.chainHead()).Height;
    await sleep(1500);
    const h1 = (await first.lotus.chainHead()).Height;
    assert.ok(h1 - h0 >= 3, `height advanced by ${h1 - h0} in 1.5s at 200ms blocks`);

    const sent = await first.lotus.mpoolPushMessage({ To: 't0100', From: 't0100', Value: '1', Method: 0, Params: null });
    const landed = await first.lotus.stateWaitMsg(sent.CID, 1, 10_000);
    assert.equal(landed.Receipt.ExitCode, ExitCode.Ok);
    const before = await first.lotus.chainHead();
    const atLanding = await first.lotus.chainGetTipSetByHeight(landed.Height);
    // A message acknowledged but not yet in a tipset must survive the kill too.
    const pending = await first.lotus.mpoolPushMessage({ To: 't0100', From: 't0100', Value: '2', Method: 0, Params: null });
    await first.daemon.kill('SIGKILL');

    const second = await startTestDevnet(home, { blockTime: '200ms' });
    try {
      const resumed = await second.lotus.chainHead();
      assert.ok(resumed.Height >= before.Height, `resumed at ${resumed.Height}, was at ${before.Height}`);
      assert.deepEqual((await second.lotus.chainGetTipSetByHeight(landed.Height)).Cids, atLanding.Cids, 'history unchanged');
      assert.deepEqual((await second.lotus.stateSearchMsg(sent.CID))?.Receipt, landed.Receipt, 'receipt kept');
      const late = await second.lotus.stateWaitMsg(pending.CID, 1, 10_000);
      assert.equal(late.Receipt.ExitCode, ExitCode.Ok, 'pooled message executed after restart');
      assert.ok(late.Height > before.Height);
      const next = await second.lotus.mpoolPushMessage({ To: 't0100', From: 't0100', Value: '3', Method: 0, Params: null });
      assert.equal(next.Message.Nonce, pending.Message.Nonce + 1, 'nonces continue');
    } finally {
      await second.daemon.kill();
    }
  });

  it('refuses a second devnet on the same home, and bad flags, with one clear line', async () => {
    const home = tempDir('devnet-lock');
    const first = await startTestDevnet(home, { blockTime: '0s' });
    try {
      const second = await runCli(MANAGER_BIN, ['devnet', '--home', home, '--listen', '127.0.0.1:0']);
      assert.equal(second.code, 1);
      assert.match(second.stderr, /a devnet is already running with this home \(pid \d+/);
    } finally {
      await first.daemon.kill();
    }
    const badTime = await runCli(MANAGER_BIN, ['devnet', '--home', home, '--block-time', 'soon']);
    assert.notEqual(badTime.code, 0);
    assert.match(badTime.stderr, /invalid duration "soon"/);
    const badListen = await runCli(MANAGER_BIN, ['devnet', '--home', home, '--listen', 'localhost']);
    assert.notEqual(badListen.code, 0);
    assert.match(badListen.stderr, /invalid listen address "localhost": expected host:port/);
  });

  it('rejects a config with unknown keys or bad values, naming key and file', async () => {
    const home = tempDir('devnet-config');
    const cases: [string, RegExp][] = [
      ['[chain]\nblock_tme = "1s"\n', /unknown key chain\.block_tme/],
      ['[chain]\nblock_time = "fast"\n', /chain\.block_time: invalid duration "fast"/],
      ['[[miners]]\nid = 1000\nsector_size = "4KiB"\nowner = "t0100"\nworker = "t0100"\n', /miners\.0\.sector_size: invalid sector size "4KiB"/],
      ['[[miners]]\nid = 1000\nowner = "t0100"\nworker = "t0777"\n', /miners\.0\.worker: t0777 is not one of the \[\[accounts\]\]/],
      ['[chain\n', /cannot read devnet config/],
    ];
    for (const [toml, expected] of cases) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(`${home}/devnet.toml`, toml);
      const res = await runCli(MANAGER_BIN, ['devnet', '--home', home, '--listen', '127.0.0.1:0']);
      assert.equal(res.code, 1, toml);
      assert.match(res.stderr, expected);
      assert.match(res.stderr, /devnet\.toml/);
      assert.equal(res.stderr.trim().split('\n').length, 1, 'one line');
    }
  });
});
