import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadWorkerConfig } from '../../src/worker/config.js';
import { tempDir } from './processes.js';

/** Writes `text` as worker.toml in a fresh directory and returns its path. */
export function configFile(text: string): string {
  const path = join(tempDir('worker-config'), 'worker.toml');
  writeFileSync(path, text);
  return path;
}

/** Loads a config that must be refused, and returns the one-line reason. */
export function refusal(text: string): string {
  const path = configFile(text);
  try {
    loadWorkerConfig(path);
  } catch (err) {
    const message = (err as Error).message;
    assert.ok(message.startsWith(`invalid worker config ${path}: `), message);
    assert.ok(!message.includes('\n'), message);
    return message.slice(`invalid worker config ${path}: `.length);
  }
  assert.fail('the config was accepted');
}
