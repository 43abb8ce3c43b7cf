import { benchDevnet } from './devnet.js';
import { benchManager } from './manager.js';
import { benchManagers } from './managers.js';
import { benchProofs } from './proofs.js';
import { benchWorkerMemory, benchWorkerPipeline } from './worker.js';

/** Every benchmark prints its figure as a ratio against a baseline measured in the same run. */
await benchDevnet();
await benchManager();
await benchManagers();
await benchWorkerPipeline(10, 1);
await benchWorkerPipeline(40, 8);
await benchWorkerMemory();
await benchProofs();
