import type { Plan } from './types.js';

/** The `snapup` plan: fill an existing CC sector with deal data (replica update) without resealing. */
export const snapupPlan: Plan = {
  name: 'snapup',
  transitions: [
    { from: 'Empty', event: 'AllocatedSnapUpSector', to: 'Allocated' },
    { from: 'Allocated', event: 'AddPiece', to: 'PieceAdded' },
    { from: 'PieceAdded', event: 'BuildTreeD', to: 'TreeDBuilt' },
    { from: 'TreeDBuilt', event: 'SnapEncode', to: 'SnapEncoded' },
    { from: 'SnapEncoded', event: 'SnapProve', to: 'SnapProved' },
    { from: 'SnapProved', event: 'Persist', to: 'Persisted' },
    { from: 'Persisted', event: 'RePersist', to: 'SnapProved' },
    { from: 'Persisted', event: 'Finish', to: 'Finished' },
  ],
  rollbacks: [],
  stages: {
    Empty: 'AllocateSnapUp',
    Allocated: 'AddPieces',
    PieceAdded: 'TreeD',
    TreeDBuilt: 'SnapEncode',
    SnapEncoded: 'SnapProve',
    SnapProved: 'PersistFiles',
    Persisted: 'SubmitSnapupProof',
  },
};
