import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { ROOT, runCli, spawnCli, tempDir } from '../helpers/processes.js';

const QUICKSTART = join(ROOT, 'dist', 'cli', 'quickstart.js');
/** No sidecar where the quick start looks for one, whatever this machine has built. */
const NO_SIDECAR = { SEALFLEET_PROOFS_BIN: '/nonexistent/sealfleet-proofs' };

describe('quick start (npm start)', () => {
  it('says which mode it runs in, keeps it for its home, and refuses a switch', async () => {
    const home = tempDir('quickstart');
    const run = spawnCli(QUICKSTART, ['--home', home, '--listen', '127.0.0.1:0', '--threads', '1'], NO_SIDECAR);
    try {
      const line = await run.waitFor(/^sealfleet running/, 30_000);
      assert.match(line, /worker with 1 sealer threads; mock processors, because the sealfleet-proofs sidecar is not built \(npm run build:proofs\)$/);
    } finally {
      assert.equal(await run.kill(), 0, run.stderr());
    }
    assert.equal(readFileSync(join(home, 'proofs-mode'), 'utf8'), 'mock\n');
    // Its worker runs with a write token bound to its name, not the operator's admin token.
    const token = /^token = "([^"]+)"$/m.exec(readFileSync(join(home, 'worker.toml'), 'utf8'))?.[1] ?? '';
    assert.deepEqual(decodeJwt(token), { Allow: ['read', 'write'], Worker: 'quickstart' });
    assert.equal(statSync(join(home, 'worker.toml')).mode & 0o777, 0o600);

    const real = await runCli(QUICKSTART, ['--home', home, '--listen', '127.0.0.1:0', '--proofs', 'real'], NO_SIDECAR);
    assert.notEqual(real.code, 0);
    assert.match(real.stderr, /was started with mock proofs and its sectors need them: use --proofs mock, or another --home/);

    const fresh = await runCli(QUICKSTART, ['--home', tempDir('quickstart-real'), '--listen', '127.0.0.1:0', '--proofs', 'real'], NO_SIDECAR);
    assert.notEqual(fresh.code, 0);
    assert.match(fresh.stderr, /real proofs need the sidecar, but the sealfleet-proofs sidecar is not built/);

    const bad = await runCli(QUICKSTART, ['--home', home, '--proofs', 'fast']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /argument 'fast' is invalid\. Allowed choices are auto, real, mock/);
  });
});
