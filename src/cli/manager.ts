import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { startDevnet } from '../devnet/daemon.js';
import { defaultHome, die, durationArg, listenArg, untilSignal } from './options.js';

const program = new Command('sealfleet-manager')
  .description('sealfleet manager: hands out sector work, keeps sector records, talks to the chain')
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('devnet')
  .description('run the built-in devnet: a local simulation of the Lotus chain API (not a Filecoin network)')
  .option('--home <dir>', 'devnet state and config directory (default: $SEALFLEET_HOME/devnet)')
  .option('--listen <host:port>', 'address to serve the Lotus JSON-RPC API on', listenArg, '127.0.0.1:1234')
  .option('--block-time <duration>', 'time between tipsets, e.g. 1s, 500ms; 0 = only on Devnet.Mine (default: devnet.toml, 1s)', durationArg)
  .action(async (opts: { home?: string; listen: string; blockTime?: number }) => {
    const home = resolve(opts.home ?? join(defaultHome(), 'devnet'));
    const devnet = await startDevnet({ home, listen: opts.listen, ...(opts.blockTime === undefined ? {} : { blockTimeMs: opts.blockTime }) });
    untilSignal(() => devnet.close());
  });

program.parseAsync().catch(die);
