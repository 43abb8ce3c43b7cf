import { benchManager } from './manager.js';
await benchManager();
