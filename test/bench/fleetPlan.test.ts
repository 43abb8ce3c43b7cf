import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fixedPoints } from '../../bench/fleet.js';
import { REAL, simulation, standsFor, THREADS_PER_WORKER } from '../../bench/fleetPlan.js';

/** The simulated workers playing N real threads at --scale S, as the bench groups them. */
function fleetOf(realThreads: number, scale: number): { threads: number; first: number; count: number; everyMs: number }[] {
  const sim = simulation(realThreads, scale);
  const workers = Math.ceil(sim.threads / THREADS_PER_WORKER);
  return Array.from({ length: workers }, (_, w) => {
    const threads = Math.min(THREADS_PER_WORKER, sim.threads - w * THREADS_PER_WORKER);
    return { threads, ...standsFor(w, threads, sim.scale) };
  });
}

describe('simulated fleet: N is real sealing threads', () => {
  it('plays N real threads by round(N / S) simulated ones at the scale that makes them exactly N', () => {
    assert.deepEqual(simulation(1000, 600), { threads: 2, scale: 500 });
    assert.deepEqual(simulation(100, 600), { threads: 1, scale: 100 });
    for (const n of [10_000, 100_000, 1_000_000]) {
      const sim = simulation(n, 600);
      assert.equal(sim.threads, Math.round(n / 600));
      assert.ok(Math.abs(sim.threads * sim.scale - n) < 1e-6, `${sim.threads} × ${sim.scale} = ${n}`);
    }
  });

  it('pings as N / 32 real workers each every ping_interval, under N / 32 distinct names', () => {
    for (const n of [1000, 10_000, 20_000, 100_000, 1_000_000]) {
      const fleet = fleetOf(n, 600);
      const perSecond = fleet.reduce((sum, w) => sum + 1000 / w.everyMs, 0);
      const real = n / THREADS_PER_WORKER / REAL.pingInterval;
      assert.ok(Math.abs(perSecond - real) < real * 1e-9, `N = ${n}: ${perSecond} pings/s, expected ${real}`);
      // The simulated workers' names are consecutive, disjoint runs of the real workers' numbering.
      let next = 0;
      for (const w of fleet) {
        assert.equal(w.first, next, `N = ${n}: names continue where the previous worker's ended`);
        next = w.first + w.count;
      }
      assert.equal(next, Math.floor(n / THREADS_PER_WORKER), `N = ${n}: one name per real worker`);
    }
  });

  it('measures 1k, 10k and 100k real threads, and --max-n when it is below 100k', () => {
    assert.deepEqual(fixedPoints(1_000_000), [1000, 10_000, 100_000]);
    assert.deepEqual(fixedPoints(100_000), [1000, 10_000, 100_000]);
    assert.deepEqual(fixedPoints(20_000), [1000, 10_000, 20_000]);
    assert.deepEqual(fixedPoints(500), [500]);
  });
});
