import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../src/core/units.js';

describe('durations', () => {
  it('parses the forms operators write', () => {
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('1min'), 60_000);
    assert.equal(parseDuration('2h'), 7_200_000);
    assert.equal(parseDuration('500ms'), 500);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('0'), 0);
  });

  it('names the bad value', () => {
    for (const bad of ['', '30', 'abc', '5 parsecs', '1x', '-1s']) {
      assert.throws(() => parseDuration(bad), (err: Error) => err.message.includes(`"${bad}"`));
    }
  });

  it('prints like worker list', () => {
    assert.equal(formatDuration(17_000), '17s');
    assert.equal(formatDuration(13 * 60_000 + 42_000), '13m42s');
    assert.equal(formatDuration(2 * 3_600_000 + 5 * 60_000), '2h5m');
    assert.equal(formatDuration(850), '850ms');
    assert.equal(formatDuration(3 * 86_400_000 + 4 * 3_600_000), '3d4h');
    assert.equal(formatDuration(-1), '-');
  });
});

describe('sizes', () => {
  it('parses every sector size and plain bytes', () => {
    assert.equal(parseSize('2KiB'), 2048);
    assert.equal(parseSize('8MiB'), 8 * 1024 ** 2);
    assert.equal(parseSize('512MiB'), 512 * 1024 ** 2);
    assert.equal(parseSize('32GiB'), 32 * 1024 ** 3);
    assert.equal(parseSize('64GiB'), 64 * 1024 ** 3);
    assert.equal(parseSize('4096'), 4096);
  });

  it('refuses nonsense, naming it', () => {
    for (const bad of ['', 'big', '2XB', '1.5', '-2KiB']) {
      assert.throws(() => parseSize(bad), (err: Error) => err.message.includes(`"${bad}"`));
    }
  });

  it('prints in the largest whole unit', () => {
    assert.equal(formatSize(2048), '2KiB');
    assert.equal(formatSize(32 * 1024 ** 3), '32GiB');
    assert.equal(formatSize(1000), '1000B');
  });
});
