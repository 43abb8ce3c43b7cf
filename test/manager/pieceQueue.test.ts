import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { AllocatedSector, SectorPieceV2 } from '../../src/core/wire/sealer.js';
import { startTestManager } from '../helpers/manager.js';
import { MANAGER_BIN, runCli, tempDir } from '../helpers/processes.js';

const SPEC = [{ AllowedMiners: null, AllowedProofTypes: null }];

describe('deal piece queue (real daemon)', () => {
  it('concurrent AcquireDeals never give one piece to two sectors', async () => {
    const m = await startTestManager(tempDir('piece-race'));
    try {
      const dir = tempDir('piece-race-in');
      const cids: string[] = [];
      for (let i = 0; i < 8; i++) {
        const file = join(dir, `p${i}.bin`);
        // 600 bytes pad to 1024: two pieces fill a 2KiB sector.
        writeFileSync(file, randomBytes(600));
        const r = await runCli(MANAGER_BIN, ['util', 'deals', 'import', file, '--home', m.home]);
        assert.equal(r.code, 0, r.stderr);
        cids.push(r.stdout.split(/\s+/)[0] as string);
      }
      const sectors = await Promise.all(Array.from({ length: 8 }, () => m.call<AllocatedSector>('Venus.AllocateSector', SPEC)));
      const answers = await Promise.all(sectors.map((s) => m.call<SectorPieceV2[] | null>('Venus.AcquireDeals', [s.ID, { MaxDeals: null, MinUsedSpace: null }])));
      const given = answers.flatMap((pieces) => (pieces ?? []).map((p) => p.Piece.PieceCID['/']));
      assert.deepEqual([...given].sort(), [...cids].sort(), 'every piece is given, each to one sector');
      assert.deepEqual(
        answers.map((a) => a?.length ?? 0).sort(),
        [0, 0, 0, 0, 2, 2, 2, 2],
      );
    } finally {
      await m.daemon.kill();
    }
  });
});
