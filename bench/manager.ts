import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RpcClient } from '../src/core/rpc/client.js';
import type { AllocatedSector } from '../src/core/wire/sealer.js';
import { ECHO_SERVER } from './devnet.js';
import { fmt, load, percentile, sealerMoves, timeUntilReady, verdict, type Figure } from './lib.js';

const MANAGER_BIN = fileURLToPath(new URL('../bin/sealfleet-manager.js', import.meta.url));

/** Rounds of the two measures, alternated; the figure is the median round. */
const ROUNDS = 5;

/**
 * Sealer-API throughput and p99 of a ReportState-heavy mix (8 ReportState : 1 WorkerPing : 1 AcquireDeals,
 * 16 callers), every write durable before the answer, against a bare node:http JSON echo server driven
 * by the same client in the same run. Target: ratio ≥ 0.4.
 */
export async function benchManager(calls = 6000): Promise<Figure[]> {
  const home = mkdtempSync(join(tmpdir(), 'sealfleet-bench-manager-'));
  mkdirSync(join(home, 'devnet'));
  writeFileSync(join(home, 'devnet', 'devnet.toml'), '[chain]\nblock_time = "1s"\n');
  const manager = await timeUntilReady([MANAGER_BIN, 'daemon', '--home', home, '--devnet', '--listen', '127.0.0.1:0'], /"manager up"/);
  const echo = await timeUntilReady(['-e', ECHO_SERVER], /url/);
  try {
    const rpc = new RpcClient({ url: `${(JSON.parse(manager.line) as { url: string }).url}/rpc/v0`, token: readFileSync(join(home, 'token'), 'utf8').trim() });
    const echoRpc = new RpcClient({ url: (JSON.parse(echo.line) as { url: string }).url });
    const sectors: AllocatedSector[] = [];
    for (let i = 0; i < 32; i++) sectors.push(await rpc.call<AllocatedSector>('Venus.AllocateSector', [{ AllowedMiners: null, AllowedProofTypes: null }]));
    let n = 0;
    const move = sealerMoves();
    const mix = (): Promise<unknown> => {
      const i = n++;
      const sector = sectors[i % sectors.length] as AllocatedSector;
      if (i % 10 === 8) return rpc.call('Venus.WorkerPing', [{ Name: `w${i % 4}`, Dest: '127.0.0.1:17890', Version: 'bench', Summary: { Threads: 8, Empty: 0, Paused: 0, Running: 8, Waiting: 0, Errors: 0 } }]);
      if (i % 10 === 9) return rpc.call('Venus.AcquireDeals', [sector.ID, { MaxDeals: null, MinUsedSpace: null }]);
      return rpc.call('Venus.ReportState', [sector.ID, { Worker: { Instance: 'bench', Location: '/bench' }, StateChange: move(sector.ID.Number), Failure: null }]);
    };
    const echoCall = (): Promise<unknown> => echoRpc.call('Venus.ReportState', [{ Miner: 1000, Number: 1 }, { Worker: { Instance: 'bench', Location: '/bench' }, StateChange: { Prev: 'PC1Done', Next: 'PC2Done', Event: 'PC2' }, Failure: null }]);
    await load(500, 16, mix);
    await load(500, 16, echoCall);
    // One pass of each lasts about a second, and a busy moment moves one by a tenth: the two alternate over
    // ROUNDS rounds, and the round with the median ratio is the figure.
    const rounds: { mv: Awaited<ReturnType<typeof load>>; ev: Awaited<ReturnType<typeof load>>; ratio: number }[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const mv = await load(calls, 16, mix);
      const ev = await load(calls, 16, echoCall);
      rounds.push({ mv, ev, ratio: mv.perSecond / ev.perSecond });
    }
    rounds.sort((a, b) => a.ratio - b.ratio);
    const { mv, ev, ratio } = rounds[Math.floor(ROUNDS / 2)] as (typeof rounds)[number];
    return [
      {
        figure: 'manager sealer API, ReportState-heavy',
        measured: `${fmt(mv.perSecond, 0)} calls/s, p99 ${fmt(percentile(mv.latencies, 99), 2)} ms (median of ${ROUNDS} rounds; ratios ${rounds.map((x) => fmt(x.ratio, 2)).join(' ')})`,
        baseline: `echo ${fmt(ev.perSecond, 0)} calls/s, p99 ${fmt(percentile(ev.latencies, 99), 2)} ms`,
        ratio: fmt(ratio, 2),
        target: 'throughput ratio ≥ 0.4',
        verdict: verdict(ratio, '≥', 0.4),
      },
    ];
  } finally {
    manager.kill();
    echo.kill();
    rmSync(home, { recursive: true, force: true });
  }
}
