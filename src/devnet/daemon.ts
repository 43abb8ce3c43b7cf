import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger, type Logger } from '../core/log.js';
import { acquireHomeLock } from '../core/homeLock.js';
import { RpcServer, serveHttp } from '../core/rpc/server.js';
import { formatDuration, formatSize } from '../core/units.js';
import { checkParams, requireSidecar, SidecarClient } from '../core/processor/sidecar.js';
import { devnetMethods } from './api.js';
import { DevnetChain } from './chain.js';
import { loadConfig, type DevnetConfig } from './config.js';
import { DevnetStore } from './store.js';
import { mockVerifier, sidecarVerifier, type ProofVerifier } from './verifier.js';

export interface DevnetOptions {
  home: string;
  listen: string;
  /** Overrides `[chain] block_time` (ms); 0 stops the clock. */
  blockTimeMs?: number;
  /** Overrides `[chain] proof_verifier`. */
  proofVerifier?: 'mock' | 'sidecar';
  logger?: Logger;
}

export interface RunningDevnet {
  /** Lotus-compatible endpoint, e.g. `http://127.0.0.1:1234/rpc/v1`. */
  url: string;
  chain: DevnetChain;
  /** How it verifies proofs (`[chain] proof_verifier`, or the override). */
  proofVerifier: DevnetConfig['chain']['proof_verifier'];
  close(): Promise<void>;
}

/**
 * Starts the devnet: a local simulation of the Lotus chain API on `<listen>/rpc/v1` (and `/rpc/v0`),
 * persisted in `<home>/devnet.db`, configured by `<home>/devnet.toml`.
 */
export async function startDevnet(opts: DevnetOptions): Promise<RunningDevnet> {
  const log = opts.logger ?? createLogger('devnet');
  mkdirSync(opts.home, { recursive: true });
  const release = acquireHomeLock(join(opts.home, 'devnet.lock'), 'a devnet');
  let store: DevnetStore | undefined;
  let verifier: ProofVerifier | undefined;
  try {
    const config = loadConfig(join(opts.home, 'devnet.toml'));
    if (opts.blockTimeMs !== undefined) config.chain.block_time = opts.blockTimeMs;
    if (opts.proofVerifier !== undefined) config.chain.proof_verifier = opts.proofVerifier;
    verifier = await createVerifier(config, log);
    store = new DevnetStore(join(opts.home, 'devnet.db'));
    const chain = new DevnetChain(store, config, verifier, { log: (msg, fields) => log.info(fields ?? {}, msg) });
    const rpc = new RpcServer({ onError: (m, err) => log.error({ err, method: m }, 'rpc handler failed') });
    rpc.register(devnetMethods(chain));
    const handle = rpc.handle.bind(rpc);
    const http = await serveHttp(opts.listen, { '/rpc/v1': handle, '/rpc/v0': handle }, (err) => log.error({ err }, 'http'));
    const url = `${http.url}/rpc/v1`;
    writeFileSync(join(opts.home, 'api'), `${url}\n`);

    let timer: NodeJS.Timeout | undefined;
    const blockTime = config.chain.block_time;
    if (blockTime > 0) {
      timer = setInterval(() => {
        chain.mine().catch((err: unknown) => log.error({ err }, 'tipset production failed'));
      }, blockTime);
    }
    chain.on('tipset', (t) => log.debug({ height: t.height, messages: t.messages.length }, 'tipset'));
    const head = chain.head();
    log.info(
      { url, height: head.height, blockTime: blockTime > 0 ? formatDuration(blockTime) : 'manual', miners: config.miners.map((m) => `t0${m.id}`), verifier: verifier.name },
      'devnet up: a local simulation of the Lotus chain API, not a Filecoin network',
    );
    const ownStore = store;
    const ownVerifier = verifier;
    return {
      url,
      chain,
      proofVerifier: config.chain.proof_verifier,
      close: async () => {
        if (timer) clearInterval(timer);
        await http.close();
        await chain.settled();
        await ownVerifier.close();
        ownStore.close();
        release();
      },
    };
  } catch (err) {
    store?.close();
    await verifier?.close();
    release();
    throw err;
  }
}

/** The configured verifier; the sidecar one only once its verifying keys are known to be in the cache. */
async function createVerifier(config: DevnetConfig, log: Logger): Promise<ProofVerifier> {
  if (config.chain.proof_verifier === 'mock') return mockVerifier;
  const sidecar = requireSidecar(config.chain.proofs_bin, 'the devnet\'s proof_verifier = "sidecar"');
  for (const size of new Set(config.miners.map((m) => m.sectorSize))) {
    const missing = (await checkParams(sidecar, size)).missing.filter((f) => f.endsWith('.vk'));
    if (missing.length > 0) {
      throw new Error(
        `the devnet verifies ${formatSize(size)} proofs with the sidecar, but verifying keys are missing: ${missing.join(', ')}; ` +
          `generate them with "sealfleet-proofs paramgen --sector-size ${formatSize(size)}" (FIL_PROOFS_PARAMETER_CACHE=${sidecar.paramCache})`,
      );
    }
  }
  return sidecarVerifier(new SidecarClient(sidecar, log.child({ part: 'verifier' })), log);
}
