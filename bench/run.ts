import { benchDevnet } from './devnet.js';
import { benchManager } from './manager.js';

/** Every benchmark prints its figure as a ratio against a baseline measured in the same run. */
await benchDevnet();
await benchManager();
