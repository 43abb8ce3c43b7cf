import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { RpcClient } from '../core/rpc/client.js';
import { formatSectorId } from '../core/sectorId.js';
import type { SectorSummary } from '../manager/api/admin.js';
import { startManager } from '../manager/daemon.js';
import { loadWorkerConfig } from '../worker/config.js';
import { startWorker } from '../worker/daemon.js';
import { die, listenArg, untilSignal } from './options.js';

/**
 * The quick start: the manager with its in-process devnet, and one worker with four sealer threads on
 * mock processors (short stage times), in one process; prints each sector's progress as it goes.
 */
const program = new Command('sealfleet-quickstart')
  .option('--home <dir>', 'where everything is kept', '.sealfleet')
  .option('--listen <host:port>', 'manager address', listenArg, '127.0.0.1:1789')
  .option('--threads <n>', 'sealer threads', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`invalid --threads "${v}": expected 1–64`);
    return n;
  }, 4)
  .action(async (o: { home: string; listen: string; threads: number }) => {
    const home = resolve(o.home);
    process.env.SEALFLEET_LOG ??= 'warn';
    const manager = await startManager({ home, listen: o.listen, devnet: true });
    const workerToml = join(home, 'worker.toml');
    const token = readFileSync(join(home, 'token'), 'utf8').trim();
    mkdirSync(join(home, 'worker'), { recursive: true });
    writeFileSync(workerToml, quickstartWorkerToml(manager.url, token, o.threads));
    const worker = await startWorker(loadWorkerConfig(workerToml));
    const rpc = new RpcClient({ url: manager.rpcUrl, token });
    const seen = new Map<string, string>();
    process.stdout.write(`sealfleet running: manager ${manager.url} (devnet in-process), worker with ${o.threads} sealer threads on mock processors\n`);
    process.stdout.write(`watch: node bin/sealfleet-manager.js util sealer sectors list --home ${o.home}    stop: Ctrl-C\n`);
    const progress = setInterval(() => {
      rpc.call<SectorSummary[]>('SealFleet.SectorsList', [{}]).then((rows) => {
        for (const s of rows) {
          const now = `${s.Status}/${s.State ?? '-'}`;
          if (seen.get(s.Sector) === now) continue;
          seen.set(s.Sector, now);
          const id = formatSectorId({ miner: s.Miner, number: s.Number });
          process.stdout.write(`${`${new Date().toISOString().slice(11, 19)}  ${id.padEnd(14)} ${(s.State ?? 'Allocated').padEnd(22)} ${s.Status === 'sealing' ? '' : s.Status}`.trimEnd()}\n`);
        }
      }, () => undefined);
    }, 1000);
    untilSignal(async () => {
      clearInterval(progress);
      await worker.close();
      await manager.close();
    });
  });

function quickstartWorkerToml(managerUrl: string, token: string, threads: number): string {
  const sealingThreads = Array.from({ length: threads }, (_, i) => `[[sealing_thread]]\nlocation = "worker/thread-${i}"\nplan = "sealer"\n`).join('\n');
  return `# written by the quick start: 4 sealer threads on mock processors against the local manager
[worker]
name = "quickstart"
ping_interval = "5s"

[sector_manager]
rpc_client.addr = "${managerUrl}"
token = "${token}"

[sealing]
seal_interval = "2s"
recover_interval = "2s"
rpc_polling_interval = "1s"
max_retries = 5
enable_deals = true

${sealingThreads}
[[attached]]
name = "local"
location = "persist"

[processors]
default = "mock"

[processors.mock]
stage_time = "300ms"
`;
}

program.parseAsync().catch(die);
