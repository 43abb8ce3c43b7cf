import { permanent } from '../core/errors.js';

/** A persist store as the worker sees it: its name (as the manager knows it) and this host's mount of it. */
export interface AttachedStore {
  name: string;
  /** Absolute. */
  location: string;
  read_only: boolean;
}

/**
 * The persist stores this worker has attached. The manager names a store; its path in the manager's answer is
 * the manager host's mount, so the worker always goes through its own location for that name.
 */
export class AttachedStores {
  constructor(private readonly stores: readonly AttachedStore[]) {}

  /** Candidates for a new sector's files. */
  writableNames(): string[] {
    return this.stores.filter((s) => !s.read_only).map((s) => s.name);
  }

  /** This host's location of the store `name`; a store not attached here pauses the thread, keeping the sector. */
  locate(name: string, use: 'read' | 'write'): string {
    const store = this.stores.find((s) => s.name === name);
    if (!store) {
      throw permanent(
        `persist store "${name}" is not attached to this worker (attached: ${this.describe()}): add an [[attached]] store named "${name}" at this host's mount of it, restart the worker and resume the thread`,
      );
    }
    if (use === 'write' && store.read_only) throw permanent(`persist store "${name}" is attached read-only at ${store.location}, but the sector's files must be written to it`);
    return store.location;
  }

  describe(): string {
    return this.stores.map((s) => `"${s.name}"${s.read_only ? ' (read-only)' : ''}`).join(', ') || 'none';
  }
}
