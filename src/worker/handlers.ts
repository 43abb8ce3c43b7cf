import type { PlanName, State } from '../core/plans/index.js';
import { acquireDeals } from './steps/acquireDeals.js';
import { addPieces, addSnapPieces } from './steps/addPieces.js';
import { allocateRebuild, allocateSector, allocateSnapUp } from './steps/allocate.js';
import { assignTicket } from './steps/assignTicket.js';
import { c1, checkSealed } from './steps/c1.js';
import { c2 } from './steps/c2.js';
import type { Step } from './steps/context.js';
import { pc1 } from './steps/pc1.js';
import { pc2 } from './steps/pc2.js';
import { persistSealed, persistUpdate, submitPersisted } from './steps/persist.js';
import { snapEncode, snapProve, submitSnapUp } from './steps/snap.js';
import { submitPreCommit } from './steps/submitPreCommit.js';
import { submitProof, waitProof } from './steps/submitProof.js';
import { treeD, snapTreeD } from './steps/treeD.js';
import { waitPreCommit } from './steps/waitPreCommit.js';
import { waitSeed } from './steps/waitSeed.js';
import { allocateWdPoStJob, finishWdPoStJob, generateWindowPoSt } from './steps/wdpost.js';

/** The step each state of each plan runs (the plans' transition tables live in core/plans). */
export const HANDLERS: Record<PlanName, Partial<Record<State, Step>>> = {
  sealer: {
    Empty: allocateSector,
    Allocated: acquireDeals,
    DealsAcquired: addPieces,
    PieceAdded: treeD,
    TreeDBuilt: assignTicket,
    TicketAssigned: pc1,
    PC1Done: pc2,
    PC2Done: submitPreCommit,
    PCSubmitted: waitPreCommit,
    PCLanded: persistSealed,
    Persisted: submitPersisted,
    PersistanceSubmitted: waitSeed,
    SeedAssigned: c1,
    C1Done: c2,
    C2Done: submitProof,
    ProofSubmitted: waitProof,
  },
  snapup: {
    Empty: allocateSnapUp,
    Allocated: addPieces,
    PieceAdded: treeD,
    TreeDBuilt: snapEncode,
    SnapEncoded: snapProve,
    SnapProved: persistUpdate,
    Persisted: submitSnapUp,
  },
  rebuild: {
    Empty: allocateRebuild,
    Allocated: addPieces,
    PieceAdded: treeD,
    TreeDBuilt: pc1,
    PC1Done: pc2,
    PC2Done: checkSealed,
    SealedChecked: addSnapPieces,
    SnapPieceAdded: snapTreeD,
    SnapTreeDBuilt: snapEncode,
    SnapEncoded: snapProve,
    SnapDone: persistSealed,
    Persisted: submitPersisted,
  },
  wdpost: {
    Empty: allocateWdPoStJob,
    Allocated: generateWindowPoSt,
    Generated: finishWdPoStJob,
  },
};
