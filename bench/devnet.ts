import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LotusClient } from '../src/chain/client.js';
import { fmt, load, median, percentile, timeUntilReady, verdict, type Figure } from './lib.js';

const MANAGER_BIN = fileURLToPath(new URL('../bin/sealfleet-manager.js', import.meta.url));

/** A bare node:http server that answers every POST with a fixed JSON-RPC result: the floor for any RPC server. */
export const ECHO_SERVER = `
const http = require('node:http');
const s = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const { id } = JSON.parse(Buffer.concat(chunks).toString());
    const body = JSON.stringify({ jsonrpc: '2.0', id, result: { Height: 1 } });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
});
s.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: 'http://127.0.0.1:' + s.address().port + '/rpc/v1' })));
`;

/** Devnet start-up (process start to serving) and ChainHead throughput, each against a bare node:http server. */
export async function benchDevnet(runs = 5, calls = 4000): Promise<Figure[]> {
  const devnetMs: number[] = [];
  const echoMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    const home = mkdtempSync(join(tmpdir(), 'sealfleet-bench-devnet-'));
    const dev = await timeUntilReady([MANAGER_BIN, 'devnet', '--home', home, '--listen', '127.0.0.1:0', '--block-time', '0'], /devnet up/);
    devnetMs.push(dev.ms);
    dev.kill();
    rmSync(home, { recursive: true, force: true });
    const echo = await timeUntilReady(['-e', ECHO_SERVER], /url/);
    echoMs.push(echo.ms);
    echo.kill();
  }
  const d = median(devnetMs);
  const e = median(echoMs);
  const startup: Figure = {
    figure: 'devnet start-up',
    measured: `median ${fmt(d, 0)} ms of ${runs}`,
    baseline: `bare node:http server ${fmt(e, 0)} ms`,
    ratio: fmt(d / e, 1),
    target: 'under 2 s',
    verdict: verdict(d, '<', 2000),
  };

  const home = mkdtempSync(join(tmpdir(), 'sealfleet-bench-devnet-'));
  const dev = await timeUntilReady([MANAGER_BIN, 'devnet', '--home', home, '--listen', '127.0.0.1:0', '--block-time', '0'], /devnet up/);
  const echo = await timeUntilReady(['-e', ECHO_SERVER], /url/);
  try {
    const devClient = new LotusClient({ url: (JSON.parse(dev.line) as { url: string }).url });
    const echoUrl = (JSON.parse(echo.line) as { url: string }).url;
    const echoClient = new LotusClient({ url: echoUrl });
    await load(500, 16, () => devClient.rpc.call('Filecoin.ChainHead'));
    await load(500, 16, () => echoClient.rpc.call('Filecoin.ChainHead'));
    const dv = await load(calls, 16, () => devClient.chainHead());
    const ev = await load(calls, 16, () => echoClient.rpc.call('Filecoin.ChainHead'));
    return [
      startup,
      {
        figure: 'devnet ChainHead',
        measured: `${fmt(dv.perSecond, 0)} calls/s, p99 ${fmt(percentile(dv.latencies, 99), 2)} ms`,
        baseline: `echo ${fmt(ev.perSecond, 0)} calls/s, p99 ${fmt(percentile(ev.latencies, 99), 2)} ms`,
        ratio: fmt(dv.perSecond / ev.perSecond, 2),
        target: '—',
        verdict: '—',
      },
    ];
  } finally {
    dev.kill();
    echo.kill();
    rmSync(home, { recursive: true, force: true });
  }
}
