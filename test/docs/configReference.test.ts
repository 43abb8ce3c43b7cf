import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renderConfigReference } from '../../src/cli/configReference.js';
import { ROOT } from '../helpers/processes.js';

describe('docs/configuration.md', () => {
  it('is what the config schemas generate now (else: npm run docs:config)', () => {
    const committed = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
    assert.equal(committed, renderConfigReference(), 'docs/configuration.md is stale: run npm run docs:config and commit it');
  });

  it('lists keys of all three files with their types and defaults', () => {
    const doc = renderConfigReference();
    assert.match(doc, /^\| `chain\.poll_interval` \| duration \| `"5s"` \| {2}\|$/m);
    assert.match(doc, /^\| `sealing\.recover_interval` \| duration \| `"1m"` \| {2}\|$/m);
    assert.match(doc, /^\| `processors\.<stage>\[\]\.bin` \| string \| {2}\| Absent: the stage runs in sealfleet-proofs/m);
    assert.match(doc, /^\| `chain\.block_time` \| duration \| `"1s"` \| `0s` stops the clock/m);
  });
});
