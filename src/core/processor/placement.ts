import { existsSync, readFileSync } from 'node:fs';
import { findOnPath } from '../executable.js';

/**
 * Where an external processor child runs: `cgroup.cpuset` pins it to CPUs (through util-linux `taskset`) and
 * `numa_preferred` prefers a NUMA node for its memory (through `numactl`). Damocles has the child join a cgroup
 * itself and only logs when that fails; here the worker wraps the command, and what the machine does not allow
 * becomes a warning, with the child started without it.
 */
export interface Placement {
  /** CPU list, e.g. `0-7,16`. */
  cpuset: string | null;
  numa_preferred: number | null;
}

const CPU_LIST = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;

/** The CPUs of a list like `0-3,8`; throws naming the list when it is not one. */
export function parseCpuList(text: string): number[] {
  if (!CPU_LIST.test(text)) throw new Error(`invalid CPU list "${text}": expected CPU numbers and ranges like 0-7,16`);
  const cpus: number[] = [];
  for (const part of text.split(',')) {
    const [first, last = first] = part.split('-').map(Number) as [number, number?];
    if (last < first) throw new Error(`invalid CPU list "${text}": the range ${part} runs backwards`);
    for (let cpu = first; cpu <= last; cpu++) cpus.push(cpu);
  }
  return cpus;
}

/** The CPUs this process may run on (Linux), or undefined where the kernel does not say. */
function allowedCpus(): string | undefined {
  try {
    return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** The command that starts `bin args` placed as asked, and why any part of the placement was left out. */
export function placeCommand(bin: string, args: string[], placement: Placement): { command: string; args: string[]; warnings: string[] } {
  const warnings: string[] = [];
  let wrapped = [bin, ...args];
  const { numa_preferred: node, cpuset } = placement;
  if (node !== null) {
    const numactl = findOnPath('numactl');
    if (!numactl) warnings.push(`numa_preferred = ${node} has no effect: numactl is not on PATH, so the child's memory follows the default policy`);
    else if (!existsSync(`/sys/devices/system/node/node${node}`)) warnings.push(`numa_preferred = ${node} has no effect: this machine has no NUMA node ${node}`);
    else wrapped = [numactl, `--preferred=${node}`, ...wrapped];
  }
  if (cpuset !== null) {
    const taskset = findOnPath('taskset');
    const allowed = allowedCpus();
    const offered = allowed === undefined ? undefined : new Set(parseCpuList(allowed));
    if (!taskset) warnings.push(`cgroup.cpuset "${cpuset}" has no effect: taskset (util-linux) is not on PATH, so the child runs on any CPU`);
    else if (!offered) warnings.push(`cgroup.cpuset "${cpuset}" has no effect: this system does not say which CPUs a process may use`);
    else if (!parseCpuList(cpuset).every((cpu) => offered.has(cpu))) {
      warnings.push(`cgroup.cpuset "${cpuset}" has no effect: the worker may only use CPUs ${allowed}, so the child runs on any of those`);
    } else wrapped = [taskset, '-c', cpuset, ...wrapped];
  }
  const [command = bin, ...rest] = wrapped;
  return { command, args: rest, warnings };
}
