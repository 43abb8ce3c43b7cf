import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import { Command, InvalidArgumentError, Option } from 'commander';
import { acquireHomeLock } from '../core/homeLock.js';
import { PERMISSIONS, type Permission } from '../core/rpc/server.js';
import { startDevnet } from '../devnet/daemon.js';
import { createToken, loadSecret, rotateSecretFiles, tokenPath, WorkerName } from '../manager/auth.js';
import { readChainTokenFile, startManager } from '../manager/daemon.js';
import { rotateClusterSecret } from '../manager/clusterSecret.js';
import { loadConfig } from '../manager/config.js';
import { openDatabase } from '../manager/db/open.js';
import { CLUSTER_ID_FILE } from '../manager/db/refusal.js';
import { DATABASE_FILE } from '../manager/db/sqlite.js';
import { checkCommandLineDbUrl, databaseTarget } from '../manager/db/target.js';
import { databasePath, managerLockPath } from '../manager/homeFiles.js';
import { addExamples } from './examples.js';
import { managerClient } from './managerClient.js';
import { utilCommand } from './managerUtil.js';
import { arg, defaultHome, die, durationArg, listenArg, runUntilSignal } from './options.js';

/** The chain node's token: from --chain-token-file, else $SEALFLEET_CHAIN_TOKEN, else the config. Never argv: `ps` shows it. */
function chainToken(file: string | undefined): string | undefined {
  if (file !== undefined) return readChainTokenFile(file, '--chain-token-file');
  return process.env.SEALFLEET_CHAIN_TOKEN || undefined;
}

const expireArg = arg((text) => {
  const ms = durationArg(text);
  if (ms <= 0) throw new Error(`invalid --expire "${text}": expected a lifetime above zero, e.g. 12h, 30d`);
  return ms;
});

const workerArg = arg((text) => {
  const parsed = WorkerName.safeParse(text);
  if (!parsed.success) throw new Error(`invalid worker name "${text}": ${parsed.error.issues[0]?.message ?? 'not a worker name'}`);
  return parsed.data;
});

const program = new Command('sealfleet-manager')
  .description('sealfleet manager: hands out sector work, keeps sector records, talks to the chain')
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('daemon')
  .description('run the manager')
  .option('--home <dir>', 'config, database, secret (default: $SEALFLEET_HOME or ~/.sealfleet)')
  .option('--listen <host:port>', 'address of the sealer API, /metrics and /healthz', listenArg, '127.0.0.1:1789')
  .option('--devnet', 'run the built-in devnet in this process and seal on it (writes a default config on first start)')
  .option('--chain-api <url>', 'a Lotus-compatible full node, e.g. http://127.0.0.1:1234/rpc/v1')
  .option('--db <url>', 'a PostgreSQL database, e.g. postgres://sealfleet@db.example/sealfleet, without a password (default: [db] url, else <home>/manager.db)')
  .option('--chain-token-file <path>', 'file holding the API token of the chain node (else $SEALFLEET_CHAIN_TOKEN, else [chain] token_file)')
  .addOption(new Option('--chain-token <token>').hideHelp())
  .addOption(new Option('--devnet-proofs <verifier>', 'with --devnet: how the devnet verifies proofs (default: devnet.toml, mock)').choices(['mock', 'sidecar']))
  .action(async (o: { home?: string; listen: string; devnet?: boolean; devnetProofs?: 'mock' | 'sidecar'; chainApi?: string; chainToken?: string; chainTokenFile?: string; db?: string }) => {
    // Named, never echoed: the value is a secret that already leaked to `ps` once.
    if (o.chainToken !== undefined) throw new InvalidArgumentError('--chain-token is no longer accepted (every user sees it in ps): put the token in a file and pass --chain-token-file <path>, or set SEALFLEET_CHAIN_TOKEN');
    if (o.devnet && o.chainApi) throw new InvalidArgumentError('--devnet and --chain-api exclude each other: pick one chain');
    if (o.devnetProofs && !o.devnet) throw new InvalidArgumentError('--devnet-proofs needs --devnet: it configures the in-process devnet');
    if (o.chainApi && !/^https?:\/\//.test(o.chainApi)) throw new InvalidArgumentError(`invalid --chain-api "${o.chainApi}": expected an http(s) URL`);
    // Checked here rather than by an option parser, whose error would echo the value, password and all.
    if (o.db !== undefined) checkCommandLineDbUrl(o.db);
    const token = chainToken(o.chainTokenFile);
    await runUntilSignal(async () => {
      const manager = await startManager({
        home: resolve(o.home ?? defaultHome()),
        listen: o.listen,
        ...(o.devnet ? { devnet: true } : {}),
        ...(o.devnetProofs ? { devnetProofs: o.devnetProofs } : {}),
        ...(o.chainApi ? { chainApi: o.chainApi } : {}),
        ...(token ? { chainToken: token } : {}),
        ...(o.db === undefined ? {} : { db: o.db }),
      });
      return () => manager.close();
    });
  });

program
  .command('devnet')
  .description('run the built-in devnet: a local simulation of the Lotus chain API (not a Filecoin network)')
  .option('--home <dir>', 'devnet state and config directory (default: $SEALFLEET_HOME/devnet)')
  .option('--listen <host:port>', 'address to serve the Lotus JSON-RPC API on', listenArg, '127.0.0.1:1234')
  .option('--block-time <duration>', 'time between tipsets, e.g. 1s, 500ms; 0 = only on Devnet.Mine (default: devnet.toml, 1s)', durationArg)
  .addOption(new Option('--proof-verifier <verifier>', 'mock, or sidecar to verify real proofs with sealfleet-proofs (default: devnet.toml, mock)').choices(['mock', 'sidecar']))
  .action(async (opts: { home?: string; listen: string; blockTime?: number; proofVerifier?: 'mock' | 'sidecar' }) => {
    const home = resolve(opts.home ?? join(defaultHome(), 'devnet'));
    await runUntilSignal(async () => {
      const devnet = await startDevnet({
        home,
        listen: opts.listen,
        ...(opts.blockTime === undefined ? {} : { blockTimeMs: opts.blockTime }),
        ...(opts.proofVerifier ? { proofVerifier: opts.proofVerifier } : {}),
      });
      return () => devnet.close();
    });
  });

program.addCommand(utilCommand());

const auth = program.command('auth').description('API tokens');
auth
  .command('create-token')
  .description('print a new token for the manager API')
  .requiredOption('--perm <perm>', `permission: ${PERMISSIONS.join(', ')}`, (v: string) => {
    if (!(PERMISSIONS as readonly string[]).includes(v)) throw new InvalidArgumentError(`invalid permission "${v}": expected one of ${PERMISSIONS.join(', ')}`);
    return v as Permission;
  })
  .option('--expire <duration>', 'the token stops working after this long, e.g. 12h, 30d (default: until the secret is rotated)', expireArg)
  .option('--worker <name>', "a worker's token: its pings may carry this worker name only (with --perm write)", workerArg)
  .option('--home <dir>', 'manager home (default: $SEALFLEET_HOME or ~/.sealfleet)')
  .action(async (o: { perm: Permission; expire?: number; worker?: string; home?: string }) => {
    // A worker-bound token is what a worker runs with; binding a stronger one would make that worker an operator.
    if (o.worker !== undefined && o.perm !== 'write') throw new InvalidArgumentError(`--worker makes a worker's token: use it with --perm write, not --perm ${o.perm}`);
    const opts = { ...(o.expire === undefined ? {} : { expiresInMs: o.expire }), ...(o.worker === undefined ? {} : { worker: o.worker }) };
    process.stdout.write(`${await createToken(loadSecret(resolve(o.home ?? defaultHome()), false), o.perm, opts)}\n`);
  });
auth
  .command('rotate-secret')
  .description('replace the JWT secret: every token issued so far stops working at once, running managers included (on PostgreSQL: every manager of the cluster)')
  .option('--home <dir>', 'manager home (default: $SEALFLEET_HOME or ~/.sealfleet)')
  .option('--db <url>', "with no manager running on the home: the PostgreSQL database it runs on, as given to its daemon's --db (default: [db] url)")
  .action(async (o: { home?: string; db?: string }) => {
    const home = resolve(o.home ?? defaultHome());
    loadSecret(home, false);
    if (o.db !== undefined) checkCommandLineDbUrl(o.db);
    let release: (() => void) | undefined;
    try {
      release = acquireHomeLock(managerLockPath(home), 'a manager');
    } catch {
      // A manager runs on this home: it swaps the secret in memory and stores it where it lives itself.
    }
    if (release) {
      try {
        await rotateOffline(home, o.db);
      } finally {
        release();
      }
    } else {
      await managerClient(home).call('SealFleet.AuthRotateSecret');
    }
    process.stdout.write(
      `secret rotated: every older token is refused from now on; a new admin token is in ${tokenPath(home)}.\n` +
        'Workers: give each a new token (auth create-token --perm write --worker <name>), put it in [sector_manager] token of its worker.toml and restart it.\n',
    );
  });

/**
 * Rotates the secret of a home whose manager is stopped: in its file, or, for a home on PostgreSQL, in the
 * cluster's database (every running manager of the cluster takes it from there) and the file.
 */
async function rotateOffline(home: string, dbUrl: string | undefined): Promise<void> {
  const configPath = join(home, 'manager.toml');
  const target = databaseTarget(dbUrl, existsSync(configPath) ? loadConfig(configPath).db : {});
  switch (target.kind) {
    case 'sqlite':
      // A home that ran and has no SQLite file ran on a PostgreSQL database given with --db.
      if (!existsSync(databasePath(home)) && existsSync(join(home, CLUSTER_ID_FILE))) {
        throw new Error(`${home} runs on a PostgreSQL database (it has ${CLUSTER_ID_FILE} and no ${DATABASE_FILE}): pass that database with --db, as given to its daemon, so that every manager of the cluster takes the new secret`);
      }
      await rotateSecretFiles(home);
      return;
    case 'postgres': {
      const db = await openDatabase(home, target, pino({ name: 'auth', level: 'warn' }, pino.destination(2)));
      try {
        await rotateClusterSecret(db, home);
      } finally {
        await db.destroy();
      }
    }
  }
}

const M = 'sealfleet-manager';
addExamples(program, {
  '': [`${M} daemon --devnet --home ~/.sealfleet`, `${M} util sealer sectors watch`],
  daemon: [`${M} daemon --devnet`, `${M} daemon --home /srv/sealfleet --chain-api http://10.0.0.5:1234/rpc/v1 --chain-token-file /srv/sealfleet/lotus.token --listen 0.0.0.0:1789`],
  devnet: [`${M} devnet --listen 127.0.0.1:1234 --block-time 500ms`],
  util: [`${M} util sealer sectors list --status sealing`],
  'util worker': [`${M} util worker list`],
  'util worker list': [`${M} util worker list --expire 2m`, `${M} util worker list --json`],
  'util worker info': [`${M} util worker info worker-1`, `${M} util worker info 10.0.0.7:17890 --json`],
  'util worker pause': [`${M} util worker pause worker-1 0`],
  'util worker forget': [`${M} util worker forget old-worker`],
  'util worker resume': [`${M} util worker resume worker-1 0`, `${M} util worker resume worker-1 0 TreeDBuilt`],
  'util worker wdpost': [`${M} util worker wdpost list`],
  'util worker wdpost list': [`${M} util worker wdpost list`, `${M} util worker wdpost list --json`],
  'util worker wdpost reset': [`${M} util worker wdpost reset 5f0c…e1 --json`],
  'util worker wdpost remove': [`${M} util worker wdpost remove 5f0c…e1`],
  'util worker log': [`${M} util worker log worker-1 0 -n 20`],
  'util sealer': [`${M} util sealer sectors list`],
  'util sealer sectors': [`${M} util sealer sectors state s-t01000-2`],
  'util sealer sectors list': [`${M} util sealer sectors list --status sealing --miner t01000`, `${M} util sealer sectors list --json`],
  'util sealer sectors state': [`${M} util sealer sectors state s-t01000-2 --json`],
  'util sealer sectors log': [`${M} util sealer sectors log s-t01000-2 -n 50`],
  'util sealer sectors watch': [`${M} util sealer sectors watch --interval 5s`, `${M} util sealer sectors watch --once --top 10`],
  'util sealer sectors abort': [`${M} util sealer sectors abort s-t01000-2 --reason "ticket expired"`],
  'util sealer sectors rebuild': [`${M} util sealer sectors rebuild s-t01000-2`],
  'util sealer sectors extend': [`${M} util sealer sectors extend s-t01000-2 s-t01000-3 --by 180`, `${M} util sealer sectors extend s-t01000-2 --to 1600000 --json`],
  'util sealer sectors terminate': [`${M} util sealer sectors terminate s-t01000-2`],
  'util sealer sectors expired': [`${M} util sealer sectors expired --miner t01000`],
  'util sealer sectors check-expire': [`${M} util sealer sectors check-expire --miner t01000 --within 86400`],
  'util sealer proving': [`${M} util sealer proving info --miner t01000`],
  'util sealer proving info': [`${M} util sealer proving info --miner t01000 --json`],
  'util sealer proving deadlines': [`${M} util sealer proving deadlines --miner t01000`],
  'util sealer proving faults': [`${M} util sealer proving faults --miner t01000`],
  'util sealer proving submissions': [`${M} util sealer proving submissions --miner t01000`, `${M} util sealer proving submissions --miner t01000 --limit 5 --json`],
  'util sealer proving check': [`${M} util sealer proving check s-t01000-2`],
  'util deals': [`${M} util deals list`],
  'util deals import': [`${M} util deals import /data/payload.car --miner t01000`],
  'util deals list': [`${M} util deals list --json`],
  auth: [`${M} auth create-token --perm read`],
  'auth create-token': [`${M} auth create-token --perm read --expire 12h`, `${M} auth create-token --perm write --worker worker-1`],
  'auth rotate-secret': [`${M} auth rotate-secret --home /srv/sealfleet`],
});

program.parseAsync().catch(die);
