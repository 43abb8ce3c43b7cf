import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { promisify } from 'node:util';
import { runCli, spawnCli, type Spawned } from '../helpers/processes.js';

/**
 * Hosts for multi-host tests, made of Linux network namespaces: one namespace per host, each with one veth
 * link to a bridge in a "switch" namespace. Addresses exist only inside these namespaces and there is no
 * default route, so nothing outside them is ever contacted, and nothing in the root namespace changes.
 * A host's processes run in their own mount namespace too, where bind mounts give each host its own path
 * onto shared directories (like NFS mounted at a different path per host).
 */

const run = promisify(execFile);
const PREFIX = 'sfleet';
const OWNED = new RegExp(`^${PREFIX}(\\d+)x\\d+-`);
/** Hosts get 10.213.<fleet>.<1…>/24, so two fleets of one test process never share a subnet. */
const SUBNET = '10.213';

export interface HostSpec {
  name: string;
  /** Directories bound into this host's processes: `source` (shared) appears at `target` (this host's path). */
  mounts?: { source: string; target: string }[];
}

export interface FleetHost {
  readonly name: string;
  /** The host's network namespace. */
  readonly ns: string;
  /** Its address on the fleet's network. */
  readonly address: string;
  /** Runs `node <bin> <args>` on this host; the child's pid is node's own, so signals reach it. */
  spawn(bin: string, args: string[], env?: Record<string, string>): Spawned;
  /** Runs a CLI on this host to completion. */
  run(bin: string, args: string[], env?: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Cuts the host's cable at the switch (its interface loses carrier; packets are dropped, not refused). */
  linkDown(): Promise<void>;
  linkUp(): Promise<void>;
  /** Puts `tc netem` on the host's cable (e.g. `['loss', '20%', 'delay', '50ms']`), or takes it off with null. */
  netem(params: string[] | null): Promise<void>;
}

export interface Fleet {
  hosts: Map<string, FleetHost>;
  host(name: string): FleetHost;
  /** Kills every process still running in the fleet and deletes its namespaces. */
  cleanup(): Promise<void>;
}

const ip = async (...args: string[]): Promise<string> => (await run('ip', args)).stdout;

/** Why this machine cannot run fleet tests, or null when it can. */
export async function fleetUnavailable(): Promise<string | null> {
  if (process.platform !== 'linux') return `fleet tests need Linux network namespaces (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'fleet tests need root (to create network namespaces and bind mounts)';
  for (const [bin, args, pkg] of [['ip', ['-V'], 'iproute2'], ['unshare', ['--version'], 'util-linux'], ['mount', ['--version'], 'mount']] as const) {
    try {
      await run(bin, [...args]);
    } catch {
      return `fleet tests need \`${bin}\` (package ${pkg}), which is not installed`;
    }
  }
  const probe = `${PREFIX}${process.pid}x0-probe`;
  try {
    await ip('netns', 'add', probe);
    await ip('netns', 'exec', probe, 'unshare', '--mount', '--propagation', 'private', 'true');
  } catch (err) {
    return `fleet tests cannot create a network and mount namespace here: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n')[0]}`;
  } finally {
    await ip('netns', 'del', probe).catch(() => undefined);
  }
  return null;
}

/** Why `tc netem` cannot shape a fleet's links here (tc missing, or no sch_netem in the kernel), or null. */
export async function netemUnavailable(): Promise<string | null> {
  const probe = `${PREFIX}${process.pid}x0-netem`;
  try {
    await ip('netns', 'add', probe);
    await ip('-n', probe, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'a1');
    await run('tc', ['-n', probe, 'qdisc', 'add', 'dev', 'a0', 'root', 'netem', 'loss', '1%']);
    return null;
  } catch (err) {
    return `tc netem is not available here: ${((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n')[0]}`;
  } finally {
    await ip('netns', 'del', probe).catch(() => undefined);
  }
}

/**
 * Skips the test (one line saying why) when fleets cannot run here, and returns false; with
 * `SEALFLEET_REQUIRE_FLEET=1` (as in CI) that is a failure instead.
 */
export async function fleetAvailable(t: TestContext): Promise<boolean> {
  const why = await fleetUnavailable();
  if (why === null) return true;
  if (process.env.SEALFLEET_REQUIRE_FLEET === '1') throw new Error(`${why} (SEALFLEET_REQUIRE_FLEET=1)`);
  t.skip(why);
  return false;
}

/** Kills what still runs in a namespace, then deletes it. */
async function removeNamespace(ns: string): Promise<void> {
  const pids = (await ip('netns', 'pids', ns).catch(() => '')).split(/\s+/).filter(Boolean);
  for (const pid of pids) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await ip('netns', 'del', ns).catch(() => undefined);
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Namespaces left by fleets of test processes that died before cleaning up. */
async function removeStale(): Promise<void> {
  const names = (await ip('netns', 'list')).split('\n').map((l) => l.split(' ')[0] ?? '');
  for (const ns of names) {
    const owner = OWNED.exec(ns)?.[1];
    if (owner !== undefined && Number(owner) !== process.pid && !alive(Number(owner))) await removeNamespace(ns);
  }
}

let fleets = 0;

/** Sets up the hosts (named like `a`, `b`; lower-case letters and digits) on one switch. */
export async function createFleet(specs: HostSpec[]): Promise<Fleet> {
  await removeStale();
  const id = ++fleets;
  const tag = `${PREFIX}${process.pid}x${id}`;
  const switchNs = `${tag}-switch`;
  const created: string[] = [];
  const spawned: Spawned[] = [];
  const hosts = new Map<string, FleetHost>();

  const cleanup = async (): Promise<void> => {
    for (const p of spawned) await p.kill('SIGKILL');
    for (const ns of created.reverse()) await removeNamespace(ns);
    created.length = 0;
  };

  try {
    await ip('netns', 'add', switchNs);
    created.push(switchNs);
    await ip('-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', switchNs, 'link', 'set', 'br0', 'up');
    for (const [i, spec] of specs.entries()) {
      if (!/^[a-z0-9]{1,8}$/.test(spec.name) || hosts.has(spec.name)) throw new Error(`host name "${spec.name}": expected 1–8 lower-case letters or digits, unique in the fleet`);
      const ns = `${tag}-${spec.name}`;
      const port = `to-${spec.name}`;
      await ip('netns', 'add', ns);
      created.push(ns);
      await ip('link', 'add', 'eth0', 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', switchNs);
      await ip('-n', switchNs, 'link', 'set', port, 'master', 'br0', 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      await ip('-n', ns, 'link', 'set', 'eth0', 'up');
      const address = `${SUBNET}.${id % 256}.${i + 1}`;
      await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');

      const mounts = spec.mounts ?? [];
      for (const m of mounts) mkdirSync(m.target, { recursive: true });
      // The script binds each (source, target) pair it is given, then execs the command after `--`.
      const prefix = [
        'ip', 'netns', 'exec', ns,
        'unshare', '--mount', '--propagation', 'private',
        'sh', '-c', 'while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 97; shift 2; done; shift; exec "$@"', 'sh',
        ...mounts.flatMap((m) => [m.source, m.target]), '--',
      ];
      const link = (state: 'up' | 'down') => async () => {
        await ip('-n', switchNs, 'link', 'set', port, state);
      };
      hosts.set(spec.name, {
        name: spec.name,
        ns,
        address,
        spawn: (bin, args, env = {}) => {
          const p = spawnCli(bin, args, env, prefix);
          spawned.push(p);
          return p;
        },
        run: (bin, args, env = {}) => runCli(bin, args, env, prefix),
        linkDown: link('down'),
        linkUp: link('up'),
        netem: async (params) => {
          if (params === null) await run('tc', ['-n', switchNs, 'qdisc', 'del', 'dev', port, 'root']);
          else await run('tc', ['-n', switchNs, 'qdisc', 'replace', 'dev', port, 'root', 'netem', ...params]);
        },
      });
    }
  } catch (err) {
    await cleanup();
    throw err;
  }

  return {
    hosts,
    host: (name) => {
      const h = hosts.get(name);
      if (!h) throw new Error(`no host "${name}" in the fleet (hosts: ${[...hosts.keys()].join(', ')})`);
      return h;
    },
    cleanup,
  };
}
