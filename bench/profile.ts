import { z } from 'zod';

/** The parts of a V8 `.cpuprofile` (as `node --cpu-prof` writes it) the summary reads. */
const CpuProfile = z.object({
  nodes: z.array(z.object({ id: z.number(), callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number() }), hitCount: z.number().optional() })),
});

/** Where a frame's code lives: a package, a source file of ours, node's internals, or V8's pseudo-frames. */
function placeOf(url: string): string {
  if (url === '') return 'V8 / native';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1] as string;
  const ours = /\/(src|dist)\/(.+)$/.exec(url);
  return ours ? (ours[2] as string).replace(/\.js$/, '.ts') : url;
}

/**
 * Self time of a CPU profile as markdown: the top functions, and the shares by package or source file, as shares
 * of the time the process was busy (V8's `(idle)` samples are counted apart).
 */
export function summariseProfile(raw: unknown, top = 12): string {
  const { nodes } = CpuProfile.parse(raw);
  const isIdle = (n: (typeof nodes)[number]): boolean => n.callFrame.functionName === '(idle)' && n.callFrame.url === '';
  const idle = nodes.filter(isIdle).reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const all = nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0) || 1;
  const total = all - idle || 1;
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  for (const n of nodes) {
    const hits = n.hitCount ?? 0;
    if (!hits || isIdle(n)) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const place = placeOf(url);
    const name = url ? `${functionName || '(anonymous)'} (${place}:${lineNumber + 1})` : functionName;
    byFunction.set(name, (byFunction.get(name) ?? 0) + hits);
    byPlace.set(place, (byPlace.get(place) ?? 0) + hits);
  }
  const pct = (hits: number): string => `${((hits / total) * 100).toFixed(1)} %`;
  const rank = (m: Map<string, number>): [string, number][] => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [
    `Idle ${((idle / all) * 100).toFixed(1)} % of the profile (warm-up included); shares below are of the busy time.`,
    '',
    '| function (self time) | share |',
    '|---|---|',
    ...rank(byFunction).map(([f, h]) => `| \`${f.replace(/\|/g, '\\|')}\` | ${pct(h)} |`),
    '',
    '| package or file | share |',
    '|---|---|',
    ...rank(byPlace).map(([p, h]) => `| ${p} | ${pct(h)} |`),
  ].join('\n');
}
