import type { Plan } from './types.js';

/** The `rebuild` plan: regenerate the sealed (and, for upgraded sectors, updated) replica of a lost sector. */
export const rebuildPlan: Plan = {
  name: 'rebuild',
  transitions: [
    { from: 'Empty', event: 'AllocatedRebuildSector', to: 'Allocated' },
    { from: 'Allocated', event: 'AddPiece', to: 'PieceAdded' },
    { from: 'PieceAdded', event: 'BuildTreeD', to: 'TreeDBuilt' },
    { from: 'TreeDBuilt', event: 'PC1', to: 'PC1Done' },
    { from: 'PC1Done', event: 'PC2', to: 'PC2Done' },
    { from: 'PC2Done', event: 'CheckSealed', to: 'SealedChecked' },
    { from: 'SealedChecked', event: 'SkipSnap', to: 'SnapDone' },
    { from: 'SealedChecked', event: 'AddPiece', to: 'SnapPieceAdded' },
    { from: 'SnapPieceAdded', event: 'BuildTreeD', to: 'SnapTreeDBuilt' },
    { from: 'SnapTreeDBuilt', event: 'SnapEncode', to: 'SnapEncoded' },
    { from: 'SnapEncoded', event: 'SnapProve', to: 'SnapDone' },
    { from: 'SnapDone', event: 'Persist', to: 'Persisted' },
    { from: 'Persisted', event: 'SubmitPersistance', to: 'Finished' },
  ],
  rollbacks: [],
  stages: {
    Empty: 'AllocateRebuild',
    Allocated: 'AddPieces',
    PieceAdded: 'TreeD',
    TreeDBuilt: 'PC1',
    PC1Done: 'PC2',
    PC2Done: 'C1',
    SealedChecked: 'PrepareForSnapup',
    SnapPieceAdded: 'TreeD',
    SnapTreeDBuilt: 'SnapEncode',
    SnapEncoded: 'SnapProve',
    SnapDone: 'PersistFiles',
    Persisted: 'SubmitPersisted',
  },
};
