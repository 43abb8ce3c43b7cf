import { critical } from '../errors.js';
import { rebuildPlan } from './rebuild.js';
import { sealerPlan } from './sealer.js';
import { snapupPlan } from './snapup.js';
import { wdpostPlan } from './wdpost.js';
import { PLAN_NAMES, type EventName, type Plan, type PlanName, type State } from './types.js';

export * from './types.js';
export { rebuildPlan, sealerPlan, snapupPlan, wdpostPlan };

export const PLANS: Readonly<Record<PlanName, Plan>> = {
  sealer: sealerPlan,
  snapup: snapupPlan,
  rebuild: rebuildPlan,
  wdpost: wdpostPlan,
};

export function getPlan(name: string): Plan {
  const plan = (PLANS as Record<string, Plan | undefined>)[name];
  if (!plan) throw new Error(`unknown plan "${name}": expected one of ${PLAN_NAMES.join(', ')}`);
  return plan;
}

export const TERMINAL_STATES: readonly State[] = ['Finished', 'Aborted'];

/** The states a sector of this plan can be in, in table order, ending with the two terminal states. */
export function planStates(plan: Plan): State[] {
  const seen = new Set<State>();
  for (const t of [...plan.transitions, ...plan.rollbacks]) {
    seen.add(t.from);
    seen.add(t.to);
  }
  seen.add('Aborted');
  return [...seen];
}

export function isPlanState(plan: Plan, state: string): state is State {
  return (planStates(plan) as string[]).includes(state);
}

/**
 * Where `event` takes a sector in `from`. `Abort` takes any live state to `Aborted`; anything the table
 * does not list is a bug in a handler or corrupt state, hence critical.
 */
export function nextState(plan: Plan, from: State, event: EventName): State {
  if (event === 'Abort' && !TERMINAL_STATES.includes(from)) return 'Aborted';
  const row = [...plan.transitions, ...plan.rollbacks].find((t) => t.from === from && t.event === event);
  if (!row) throw critical(`event ${event} is not allowed in state ${from} of the ${plan.name} plan`);
  return row.to;
}

/** The events a state can take in this plan (what its handler may return). */
export function eventsFrom(plan: Plan, from: State): EventName[] {
  return plan.transitions.filter((t) => t.from === from).map((t) => t.event);
}

export function stageOf(plan: Plan, state: State): string {
  return plan.stages[state] ?? '-';
}
