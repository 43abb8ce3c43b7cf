import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { RpcClient } from '../core/rpc/client.js';
import { formatSectorId } from '../core/sectorId.js';
import { LIST_MAX, type SectorSummary } from '../manager/api/admin.js';
import { createToken, loadSecret } from '../manager/auth.js';
import { startManager } from '../manager/daemon.js';
import { checkParams, findSidecar } from '../core/processor/sidecar.js';
import { writePrivateFileAtomic } from '../core/privateFiles.js';
import { loadWorkerConfig } from '../worker/config.js';
import { startWorker } from '../worker/daemon.js';
import { addExamples } from './examples.js';
import { die, listenArg, runUntilSignal } from './options.js';

const DEFAULT_HOME = '.sealfleet';

/**
 * The quick start: the manager with its in-process devnet, and one worker with four sealer threads, in one
 * process; prints each sector's progress as it goes. With the sealfleet-proofs sidecar built and its 2KiB
 * parameters in the cache, the sectors are sealed and proven for real and the devnet verifies the proofs;
 * otherwise every step runs on mock processors (short stage times).
 */
const program = new Command('sealfleet-quickstart')
  .option('--home <dir>', 'where everything is kept', DEFAULT_HOME)
  .option('--listen <host:port>', 'manager address', listenArg, '127.0.0.1:1789')
  .option('--threads <n>', 'sealer threads', (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`invalid --threads "${v}": expected 1–64`);
    return n;
  }, 4)
  .addOption(new Option('--proofs <mode>', 'real: the sidecar seals and proves; mock: mock processors; auto: real when the sidecar and its 2KiB parameters are there').choices(['auto', 'real', 'mock']).default('auto'))
  .action(async (o: { home: string; listen: string; threads: number; proofs: 'auto' | 'real' | 'mock' }) => {
    const home = resolve(o.home);
    process.env.SEALFLEET_LOG ??= 'warn';
    mkdirSync(home, { recursive: true });
    const mode = await chooseMode(home, o.proofs);
    await runUntilSignal(async () => {
      const manager = await startManager({ home, listen: o.listen, devnet: true, devnetProofs: mode.real ? 'sidecar' : 'mock' });
      const workerToml = join(home, 'worker.toml');
      const token = readFileSync(join(home, 'token'), 'utf8').trim();
      // The worker gets a write token bound to its name, not the operator's admin token.
      const workerToken = await createToken(loadSecret(home, false), 'write', { worker: QUICKSTART_WORKER });
      mkdirSync(join(home, 'worker'), { recursive: true });
      writePrivateFileAtomic(workerToml, quickstartWorkerToml(manager.url, workerToken, o.threads, mode.real));
      const worker = await startWorker(loadWorkerConfig(workerToml));
      const rpc = new RpcClient({ url: manager.rpcUrl, token });
      const progress = watchProgress(rpc);
      process.stdout.write(`sealfleet running: manager ${manager.url} (devnet in-process), worker with ${o.threads} sealer threads; ${mode.describe}\n`);
      process.stdout.write(`watch: node bin/sealfleet-manager.js util sealer sectors list --home ${o.home}    stop: Ctrl-C\n`);
      return async () => {
        clearInterval(progress);
        const midSector = worker.threads().filter((t) => t.job_id !== null).length;
        await worker.close();
        const sectors = await rpc.call<SectorSummary[]>('SealFleet.SectorsList', [{ Limit: LIST_MAX }]);
        await manager.close();
        process.stdout.write(`${stoppedLine(o.home, midSector, sectors)}\n`);
      };
    });
  });

/** What a stop kept, in one line: the threads' persisted states and the sectors in the home. */
function stoppedLine(home: string, midSector: number, sectors: SectorSummary[]): string {
  const count = (status: SectorSummary['Status']): number => sectors.filter((s) => s.Status === status).length;
  const kept = count('sealing') + count('finalized');
  const threads = `${midSector} thread${midSector === 1 ? '' : 's'} paused in place`;
  const inHome = `${kept} sector${kept === 1 ? '' : 's'} kept in ${home} (${count('finalized')} finalized, ${count('sealing')} sealing)`;
  const again = home === DEFAULT_HOME ? 'npm start' : `npm start -- --home ${home}`;
  return `stopped: ${threads}, ${inHome}; ${again} continues them`;
}

/** Prints a line whenever a sector changes state. */
function watchProgress(rpc: RpcClient): NodeJS.Timeout {
  const seen = new Map<string, string>();
  return setInterval(() => {
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
}

interface Mode {
  real: boolean;
  describe: string;
}

/**
 * Real or mock, decided once per home and kept in `<home>/proofs-mode`: sectors sealed by mock processors
 * cannot be carried on by real ones (or the other way round), so a home never switches.
 */
async function chooseMode(home: string, wanted: 'auto' | 'real' | 'mock'): Promise<Mode> {
  const file = join(home, 'proofs-mode');
  const recorded = existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
  if (recorded !== undefined && wanted !== 'auto' && wanted !== recorded) {
    throw new Error(`${home} was started with ${recorded} proofs and its sectors need them: use --proofs ${recorded}, or another --home`);
  }
  const target = recorded ?? wanted;
  const settle = (mode: Mode): Mode => {
    writeFileSync(file, `${mode.real ? 'real' : 'mock'}\n`);
    return mode;
  };
  if (target === 'mock') return settle({ real: false, describe: 'mock processors' });
  const sidecar = findSidecar();
  const params = sidecar ? await checkParams(sidecar, 2048) : undefined;
  if (sidecar && params?.ready) {
    return settle({ real: true, describe: `real proofs by ${sidecar.bin}, verified on the devnet (parameters: ${sidecar.paramCache})` });
  }
  const why = sidecar
    ? `the 2KiB parameters are not in ${sidecar.paramCache} (sealfleet-proofs paramgen --sector-size 2KiB)`
    : 'the sealfleet-proofs sidecar is not built (npm run build:proofs)';
  if (target === 'real') throw new Error(`real proofs need the sidecar, but ${why}`);
  return settle({ real: false, describe: `mock processors, because ${why}` });
}

const QUICKSTART_WORKER = 'quickstart';

function quickstartWorkerToml(managerUrl: string, token: string, threads: number, real: boolean): string {
  const sealingThreads = Array.from({ length: threads }, (_, i) => `[[sealing_thread]]\nlocation = "worker/thread-${i}"\nplan = "sealer"\n`).join('\n');
  const processors = real
    ? `[processors]
default = "sidecar"

# One SNARK at a time: a 2KiB C2 takes about 3 GB and both cores.
[processors.limitation.concurrent]
c2 = 1
snap_prove = 1
`
    : `[processors]
default = "mock"

[processors.mock]
stage_time = "300ms"
`;
  return `# written by the quick start: ${threads} sealer threads on ${real ? 'the sealfleet-proofs sidecar' : 'mock processors'} against the local manager
[worker]
name = "${QUICKSTART_WORKER}"
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

${processors}`;
}

addExamples(program, { '': ['npm start', 'npm start -- --threads 2 --proofs mock', 'node dist/cli/quickstart.js --home /tmp/demo --listen 127.0.0.1:1790'] });

program.parseAsync().catch(die);
