import assert from 'node:assert/strict';

/** One sample line of the Prometheus text exposition format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A scrape: the metric families its `# TYPE` lines declare, and every sample. */
export interface Scrape {
  types: Map<string, string>;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

/** Parses `{a="x",b="y\"z"}` from `text` at `i`; returns the labels and the index after `}`. */
function parseLabels(text: string, start: number): [Record<string, string>, number] {
  const labels: Record<string, string> = {};
  let i = start + 1;
  while (text[i] !== '}') {
    const name = NAME.exec(text.slice(i))?.[0];
    assert.ok(name, `label name expected at ${i} in: ${text}`);
    i += name.length;
    assert.equal(text.slice(i, i + 2), '="', `="..." expected after label ${name} in: ${text}`);
    i += 2;
    let value = '';
    for (; text[i] !== '"'; i++) {
      assert.ok(i < text.length, `unterminated value of label ${name} in: ${text}`);
      if (text[i] === '\\') {
        i++;
        value += text[i] === 'n' ? '\n' : text[i];
      } else value += text[i];
    }
    labels[name] = value;
    i++;
    if (text[i] === ',') i++;
  }
  return [labels, i + 1];
}

function parseValue(text: string): number {
  switch (text) {
    case '+Inf':
      return Infinity;
    case '-Inf':
      return -Infinity;
    case 'NaN':
      return NaN;
    default: {
      const n = Number(text);
      assert.ok(text !== '' && !Number.isNaN(n), `not a sample value: "${text}"`);
      return n;
    }
  }
}

/** Parses the text exposition format (as prom-client writes it): comments, samples, escaped label values. */
export function parseExposition(text: string): Scrape {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
      if (type) types.set(type[1] as string, type[2] as string);
      continue;
    }
    const name = NAME.exec(line)?.[0];
    assert.ok(name, `metric name expected: ${line}`);
    let labels: Record<string, string> = {};
    let i = name.length;
    if (line[i] === '{') [labels, i] = parseLabels(line, i);
    // A value, and an optional timestamp after it.
    const [value = '', timestamp] = line.slice(i).trim().split(/\s+/);
    if (timestamp !== undefined) parseValue(timestamp);
    samples.push({ name, labels, value: parseValue(value) });
  }
  return { types, samples };
}

/** Scrapes a `/metrics` URL over HTTP and parses it. */
export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return parseExposition(await res.text());
}

/** The samples of `name` whose labels include `labels`. */
export function series(s: Scrape, name: string, labels: Record<string, string> = {}): Sample[] {
  return s.samples.filter((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
}

/** The sum of the samples of `name` whose labels include `labels` (0 when there are none). */
export function total(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  return series(s, name, labels).reduce((sum, x) => sum + x.value, 0);
}

/** Names a query may use for what a scrape holds: every family, and every sample name (`_bucket`, `_count`…). */
export function knownNames(...scrapes: Scrape[]): Set<string> {
  return new Set(scrapes.flatMap((s) => [...s.types.keys(), ...s.samples.map((x) => x.name)]));
}
