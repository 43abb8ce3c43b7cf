import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatLogLine } from '../../src/core/log.js';
import { eventually } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, spawnCli, tempDir } from '../helpers/processes.js';
import { noTerminal, onTerminal } from '../helpers/terminal.js';

const TEXT_UP = /^\d\d:\d\d:\d\d\.\d{3} INFO {2}devnet devnet up: a local simulation of the Lotus chain API, not a Filecoin network url=http:\/\/127\.0\.0\.1:\d+\/rpc\/v1 height=0 .*verifier=mock\r?$/m;
const JSON_UP = /^\{"level":30,.*"msg":"devnet up: /m;

/** The devnet daemon on a pseudo-terminal until its ready line; its output as the terminal got it. */
async function devnetOnTerminal(env: Record<string, string>): Promise<string> {
  const run = onTerminal(MANAGER_BIN, ['devnet', '--home', tempDir('log-tty'), '--listen', '127.0.0.1:0'], env);
  try {
    return await eventually('the devnet ready line', async () => (/devnet up/.test(run.output()) ? run.output() : undefined), 30_000);
  } finally {
    await run.close();
  }
}

const devnetInPipe = async (env: Record<string, string>): Promise<string> => {
  const run = spawnCli(MANAGER_BIN, ['devnet', '--home', tempDir('log-pipe'), '--listen', '127.0.0.1:0'], env);
  try {
    return await run.waitFor(/devnet up/, 30_000);
  } finally {
    await run.kill();
  }
};

describe('log format of the daemons (real processes)', () => {
  it('prints human-readable lines on a terminal, and JSON with SEALFLEET_LOG_FORMAT=json', { skip: noTerminal }, async () => {
    const text = await devnetOnTerminal({});
    assert.match(text, TEXT_UP);
    assert.doesNotMatch(text, /\{"level"/);
    assert.match(await devnetOnTerminal({ SEALFLEET_LOG_FORMAT: 'json' }), JSON_UP);
  });

  it('prints JSON lines into a pipe, and text with SEALFLEET_LOG_FORMAT=text', async () => {
    assert.match(await devnetInPipe({}), JSON_UP);
    assert.match(await devnetInPipe({ SEALFLEET_LOG_FORMAT: 'text' }), TEXT_UP);
  });

  it('refuses an unknown SEALFLEET_LOG_FORMAT naming it and what is expected', async () => {
    const run = await runCli(MANAGER_BIN, ['devnet', '--home', tempDir('log-bad'), '--listen', '127.0.0.1:0'], { SEALFLEET_LOG_FORMAT: 'yaml' });
    assert.equal(run.code, 1);
    assert.equal(run.stderr, 'error: invalid SEALFLEET_LOG_FORMAT "yaml": expected json or text\n');
  });

  it('shows an error by its message, quotes text with spaces and escapes control characters from the wire', () => {
    const line = JSON.stringify({ level: 50, time: Date.UTC(2026, 0, 2, 3, 4, 5, 6), name: 'worker', msg: 'step failed', thread: 2, why: 'disk full', err: { type: 'Error', message: 'no \x1b[2J space', stack: 'Error: …' }, tags: ['a'] });
    assert.equal(formatLogLine(line), '03:04:05.006 ERROR worker step failed thread=2 why="disk full" err="no \\u001b[2J space" tags=["a"]\n');
  });
});
