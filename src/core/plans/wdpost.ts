import type { Plan } from './types.js';

/** The `wdpost` plan: take a WindowPoSt job from the manager, compute its proof, hand it back. No sector. */
export const wdpostPlan: Plan = {
  name: 'wdpost',
  transitions: [
    { from: 'Empty', event: 'AllocatedWdPoStJob', to: 'Allocated' },
    { from: 'Allocated', event: 'Generate', to: 'Generated' },
    { from: 'Generated', event: 'Finish', to: 'Finished' },
  ],
  rollbacks: [],
  stages: {
    Empty: 'AllocateWdPoStJob',
    Allocated: 'Generate',
    Generated: 'SubmitProof',
  },
};
