import { formatDuration } from '../core/units.js';

export { formatDuration };
export const ago = (ms: number, now = Date.now()): string => `${formatDuration(now - ms)} ago`;
export const time = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
export const sectorHref = (sector: string): string => `#/sector/${encodeURIComponent(sector)}`;
export const workerHref = (worker: string): string => `#/worker/${encodeURIComponent(worker)}`;
