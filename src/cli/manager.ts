import { join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { PERMISSIONS, type Permission } from '../core/rpc/server.js';
import { startDevnet } from '../devnet/daemon.js';
import { createToken, loadSecret } from '../manager/auth.js';
import { startManager } from '../manager/daemon.js';
import { utilCommand } from './managerUtil.js';
import { defaultHome, die, durationArg, listenArg, runUntilSignal } from './options.js';

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
  .option('--chain-token <token>', 'API token for --chain-api')
  .addOption(new Option('--devnet-proofs <verifier>', 'with --devnet: how the devnet verifies proofs (default: devnet.toml, mock)').choices(['mock', 'sidecar']))
  .action(async (o: { home?: string; listen: string; devnet?: boolean; devnetProofs?: 'mock' | 'sidecar'; chainApi?: string; chainToken?: string }) => {
    if (o.devnet && o.chainApi) throw new InvalidArgumentError('--devnet and --chain-api exclude each other: pick one chain');
    if (o.devnetProofs && !o.devnet) throw new InvalidArgumentError('--devnet-proofs needs --devnet: it configures the in-process devnet');
    if (o.chainApi && !/^https?:\/\//.test(o.chainApi)) throw new InvalidArgumentError(`invalid --chain-api "${o.chainApi}": expected an http(s) URL`);
    await runUntilSignal(async () => {
      const manager = await startManager({
        home: resolve(o.home ?? defaultHome()),
        listen: o.listen,
        ...(o.devnet ? { devnet: true } : {}),
        ...(o.devnetProofs ? { devnetProofs: o.devnetProofs } : {}),
        ...(o.chainApi ? { chainApi: o.chainApi } : {}),
        ...(o.chainToken ? { chainToken: o.chainToken } : {}),
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

program
  .command('auth')
  .description('API tokens')
  .command('create-token')
  .description('print a new token for the manager API')
  .requiredOption('--perm <perm>', `permission: ${PERMISSIONS.join(', ')}`, (v: string) => {
    if (!(PERMISSIONS as readonly string[]).includes(v)) throw new InvalidArgumentError(`invalid permission "${v}": expected one of ${PERMISSIONS.join(', ')}`);
    return v as Permission;
  })
  .option('--home <dir>', 'manager home (default: $SEALFLEET_HOME or ~/.sealfleet)')
  .action(async (o: { perm: Permission; home?: string }) => {
    process.stdout.write(`${await createToken(loadSecret(resolve(o.home ?? defaultHome()), false), o.perm)}\n`);
  });

program.parseAsync().catch(die);
