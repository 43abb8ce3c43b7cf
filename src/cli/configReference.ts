import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import type { z } from 'zod';
import { formatSize, formatDuration } from '../core/units.js';
import { ConfigSchema as DevnetSchema } from '../devnet/config.js';
import { ConfigSchema as ManagerSchema } from '../manager/config.js';
import { ConfigSchema as WorkerSchema, ExternalSchema, SEALING_DEFAULTS, SealingSchema } from '../worker/config.js';

/**
 * docs/configuration.md, generated from the config schemas: every key with its type and default from the
 * zod schema, and its description from the comment the schema's source has on that key. Run with
 * `npm run docs:config`; test/docs/configReference.test.ts fails when the committed file is stale.
 */

interface Row {
  key: string;
  type: string;
  default: string;
}

/** zod's internal definition: what the walk reads (type, wrapped schema, shape, default). */
interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  valueType?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, string>;
  defaultValue?: unknown;
  catchall?: z.ZodType;
  checks?: { _zod: { def: { check: string; format?: string } } }[];
}
const defOf = (s: z.ZodType): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** The schema under its wrappers (optional, default, a transform's input), and the default met on the way. */
function unwrap(s: z.ZodType): { core: z.ZodType; dflt: unknown; hasDefault: boolean; pipe: z.ZodType | undefined } {
  let dflt: unknown;
  let hasDefault = false;
  let pipe: z.ZodType | undefined;
  for (;;) {
    const d = defOf(s);
    if ((d.type === 'default' || d.type === 'prefault') && d.innerType) {
      if (!hasDefault) {
        dflt = d.defaultValue;
        hasDefault = true;
      }
      s = d.innerType;
    } else if ((d.type === 'optional' || d.type === 'nullable' || d.type === 'catch' || d.type === 'readonly') && d.innerType) {
      s = d.innerType;
    } else if (d.type === 'pipe' && d.in) {
      pipe ??= s;
      s = d.in;
    } else {
      return { core: s, dflt, hasDefault, pipe };
    }
  }
}

/** A text a parser turns into milliseconds or bytes: found by what it makes of a sample. */
function unitOf(pipe: z.ZodType | undefined): 'duration' | 'size' | undefined {
  if (!pipe) return undefined;
  if (pipe.safeParse('2s').data === 2000) return 'duration';
  if (pipe.safeParse('2KiB').data === 2048) return 'size';
  return undefined;
}

function typeName(s: z.ZodType): string {
  const u = unwrap(s);
  const unit = unitOf(u.pipe);
  if (unit) return unit;
  const d = defOf(u.core);
  switch (d.type) {
    case 'number':
      return d.checks?.some((c) => c._zod.def.format === 'safeint' || c._zod.def.check === 'number_format') ? 'integer' : 'number';
    case 'enum':
      return Object.values(d.entries ?? {}).map((v) => `"${v}"`).join(' or ');
    case 'array':
      return `array of ${d.element ? typeName(d.element) : 'values'}`;
    case 'record':
      return `table of ${d.valueType ? typeName(d.valueType) : 'values'}`;
    case 'union':
      return (d.options ?? []).map(typeName).join(' or ');
    case 'object':
      return 'table';
    default:
      return d.type;
  }
}

/** A default as it would be written in the TOML file; nothing for none. */
function defaultText(v: unknown, unit: 'duration' | 'size' | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number' && unit === 'duration') return `"${formatDuration(v)}"`;
  if (typeof v === 'number' && unit === 'size') return `"${formatSize(v)}"`;
  return shown(v);
}

const shown = (v: unknown): string => {
  if (v === undefined) return '';
  if (typeof v === 'string') return `"${v}"`;
  return JSON.stringify(v);
};

/** Every key below `s`, tables first by their own row (when they have a default), then their keys. */
function rows(s: z.ZodType, prefix: string, defaults: Record<string, unknown> = {}): Row[] {
  const { core } = unwrap(s);
  const d = defOf(core);
  if (d.type === 'array' && d.element && defOf(unwrap(d.element).core).type === 'object') return rows(d.element, `${prefix}[]`);
  if (d.type !== 'object' || !d.shape) return [];
  const out: Row[] = [];
  for (const [name, child] of Object.entries(d.shape)) {
    const key = prefix ? `${prefix}.${name}` : name;
    const u = unwrap(child);
    const fromTable = Object.hasOwn(defaults, name) ? defaults[name] : undefined;
    const isTable = defOf(u.core).type === 'object' || (defOf(u.core).type === 'array' && defOf(unwrap(defOf(u.core).element as z.ZodType).core).type === 'object');
    if (!isTable || defOf(u.core).type === 'array') {
      const value = u.hasDefault && !isTable ? u.dflt : fromTable;
      out.push({ key: defOf(u.core).type === 'array' && isTable ? `[[${key}]]` : key, type: typeName(child), default: defaultText(value, unitOf(u.pipe)) });
    }
    out.push(...rows(child, key));
  }
  return out;
}

/**
 * `path.of.key` → its comment, from the property assignments of the schemas declared in a source file.
 * `mounts` says where each named schema's keys sit in the file's config (e.g. a miner's under `miners[]`).
 */
function comments(file: string, mounts: Record<string, string[]>): Map<string, string> {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found = new Map<string, string>();
  const visit = (node: ts.Node, path: string[]): void => {
    let next = path;
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name)) next = [node.name.text];
    if (ts.isPropertyAssignment(node) && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name)) && path.length > 0) {
      next = [...path, node.name.text];
      const comment = (ts.getLeadingCommentRanges(text, node.getFullStart()) ?? [])
        .map((r) => text.slice(r.pos, r.end))
        .map((c) => c.replace(/^\/\*\*?|\*\/$/g, '').replace(/^\s*\*\s?/gm, '').replace(/^\s*\/\/\s?/gm, ''))
        .join(' ')
        .replace(/\s+/g, ' ')
        .trim();
      const [schema = '', ...keys] = next;
      if (comment) for (const mount of mounts[schema] ?? []) found.set([...(mount ? [mount] : []), ...keys].join('.'), comment);
    }
    ts.forEachChild(node, (child) => visit(child, next));
  };
  visit(source, []);
  return found;
}

const cell = (text: string): string => text.replace(/\|/g, '\\|');

function section(title: string, intro: string, schema: z.ZodType, source: string, mounts: Record<string, string[]>, extra: Row[] = []): string {
  const docs = comments(fileURLToPath(new URL(`../../src/${source}`, import.meta.url)), { ConfigSchema: [''], ...mounts });
  const table = [...rows(schema, ''), ...extra].map((r) => `| \`${r.key}\` | ${cell(r.type)} | ${r.default ? `\`${cell(r.default)}\`` : ''} | ${cell(docs.get(r.key.replace(/^\[\[(.*)\]\]$/, '$1')) ?? '')} |`);
  return `## ${title}\n\n${intro}\n\n| Key | Type | Default | Description |\n| --- | --- | --- | --- |\n${table.join('\n')}\n`;
}

export function renderConfigReference(): string {
  // [sealing] keys take their defaults from the worker's built-in table, not from the schema (a thread's
  // `sealing.*` overrides only what it sets).
  const sealing = Object.entries(SEALING_DEFAULTS).map(([k, v]) => ({ key: `sealing.${k}`, v }));
  const worker = section(
    'worker.toml',
    'The worker daemon (`sealfleet-worker daemon -c worker.toml`): key names as in damocles-worker (see the README, "damocles workers"). `[[processors.<stage>]]` entries take the keys of `processors.<stage>[]`.',
    WorkerSchema,
    'worker/config.ts',
    { SealingSchema: ['sealing', 'sealing_thread[].sealing'], ProcessorsSchema: ['processors'], ExternalSchema: ['processors.<stage>[]'] },
    rows(ExternalSchema, 'processors.<stage>[]'),
  ).replace(/^\| `sealing\.(\w+)` \| ([^|]*) \| {2}\|/gm, (line, name: string, type: string) => {
    const d = sealing.find((s) => s.key === `sealing.${name}`);
    const text = d ? defaultText(d.v, unitOf(unwrap(SealingSchema.shape[name as keyof typeof SealingSchema.shape]).pipe)) : '';
    return text ? `| \`sealing.${name}\` | ${type} | \`${cell(text)}\` |` : line;
  });
  return `# Configuration reference

Generated from the config schemas by \`npm run docs:config\` (src/cli/configReference.ts): do not edit by hand.
Durations are written like \`"30s"\` or \`"5m"\`, sizes like \`"32GiB"\`.

${section('manager.toml', 'The manager (`<home>/manager.toml`); `daemon --devnet` writes a default one on its first start.', ManagerSchema, 'manager/config.ts', { MinerSchema: ['miners[]'], StoreSchema: ['persist_stores[]'] })}
${worker}
${section('devnet.toml', 'The built-in devnet (`<home>/devnet/devnet.toml`, or `sealfleet-manager devnet --home <dir>`).', DevnetSchema, 'devnet/config.ts', {})}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));
  writeFileSync(target, renderConfigReference());
  process.stdout.write(`wrote ${target}\n`);
}
