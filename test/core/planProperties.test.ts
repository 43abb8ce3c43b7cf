import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SealingError } from '../../src/core/errors.js';
import { EVENTS, PLAN_NAMES, TERMINAL_STATES, getPlan, nextState, planStates, type State } from '../../src/core/plans/index.js';
import { checkProperty } from '../helpers/property.js';

/**
 * Steps of a run: an event of any plan (or `Abort`), most of them foreign to the state they arrive in, or
 * one the table offers there (picked by index), so runs also get deep into the table.
 */
const anySteps = fc.array(fc.oneof(fc.constantFrom(...EVENTS), fc.nat()), { minLength: 1, maxLength: 80 });

describe('plan tables under random events (property)', () => {
  for (const name of PLAN_NAMES) {
    const plan = getPlan(name);
    const rows = [...plan.transitions, ...plan.rollbacks];
    const states = planStates(plan);

    it(`${name}: every move is a row of the table (or Abort of a live state), everything else is refused and changes nothing`, async () => {
      await checkProperty(
        fc.property(anySteps, (steps) => {
          let state: State = 'Empty';
          for (const step of steps) {
            const offered = rows.filter((t) => t.from === state);
            const event = typeof step === 'number' ? (offered[step % Math.max(offered.length, 1)]?.event ?? 'Abort') : step;
            const row = rows.find((t) => t.from === state && t.event === event);
            const live = !TERMINAL_STATES.includes(state);
            let outcome: { to: State } | { err: unknown };
            try {
              outcome = { to: nextState(plan, state, event) };
            } catch (err) {
              outcome = { err };
            }
            if (row) {
              assert.deepEqual(outcome, { to: row.to }, `${state} --${event}--> is the table's row`);
            } else if (event === 'Abort' && live) {
              assert.deepEqual(outcome, { to: 'Aborted' }, `Abort takes live ${state} to Aborted`);
            } else {
              assert.ok('err' in outcome, `${state} --${event}--> is not in the ${name} table, yet went to ${'to' in outcome ? outcome.to : ''}`);
              assert.ok(outcome.err instanceof SealingError && outcome.err.level === 'Critical', `refused as critical: ${String(outcome.err)}`);
              assert.match(outcome.err.message, new RegExp(`event ${event} is not allowed in state ${state} of the ${name} plan`));
              continue;
            }
            state = outcome.to;
            assert.ok(states.includes(state), `${state} is a state of the ${name} plan`);
          }
        }),
        300,
      );
    });

    it(`${name}: Finished and Aborted take no event at all`, async () => {
      await checkProperty(
        fc.property(fc.constantFrom(...TERMINAL_STATES), fc.constantFrom(...EVENTS), (state, event) => {
          assert.throws(() => nextState(plan, state, event), (err: unknown) => err instanceof SealingError && err.level === 'Critical');
        }),
        300,
      );
    });

    it(`${name}: from any of its states, events the table offers lead to Finished, and Abort to Aborted`, async () => {
      const live = states.filter((s) => !TERMINAL_STATES.includes(s));
      await checkProperty(
        fc.property(fc.constantFrom(...live), fc.infiniteStream(fc.nat()), fc.boolean(), (start, choices, abort) => {
          let state: State = start;
          const picks = choices[Symbol.iterator]();
          // Each table is short and its only loops are retries, so a fair walk ends well within this bound.
          for (let steps = 0; !TERMINAL_STATES.includes(state) && steps < 1000; steps++) {
            if (abort && steps === 3) {
              state = nextState(plan, state, 'Abort');
              break;
            }
            const offered = rows.filter((t) => t.from === state);
            assert.ok(offered.length > 0, `${state} of the ${name} plan is a dead end`);
            const { event } = offered[picks.next().value % offered.length] ?? assert.fail(`no row from ${state}`);
            state = nextState(plan, state, event);
          }
          assert.ok(TERMINAL_STATES.includes(state), `the walk from ${start} ended in ${state}`);
        }),
        300,
      );
    });
  }
});
