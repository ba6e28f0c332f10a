/**
 * The state snapshot in HA mode: shared in ZooKeeper (written by the leader only) and kept locally by every
 * instance, so an instance that starts with neither Marathon nor ZooKeeper reachable still renders from the
 * last known state. `load()` takes the newer of the two.
 */
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { Snapshot, StateStore } from './types.js';

export class LayeredStateStore implements StateStore {
  constructor(
    private readonly shared: StateStore,
    private readonly local: StateStore,
    private readonly writesShared: () => boolean,
    private readonly log: Logger,
  ) {}

  async load(): Promise<Snapshot | null> {
    const [shared, local] = await Promise.all([
      this.shared.load().catch((err) => {
        this.log.warn({ err: errorMessage(err) }, 'shared state snapshot unavailable; using the local one');
        return null;
      }),
      this.local.load().catch(() => null),
    ]);
    if (!shared) return local;
    if (!local) return shared;
    return shared.savedAt >= local.savedAt ? shared : local;
  }

  async save(snapshot: Snapshot): Promise<void> {
    await this.local.save(snapshot);
    if (this.writesShared()) await this.shared.save(snapshot);
  }

  async close(): Promise<void> {
    await Promise.all([this.shared.close(), this.local.close()]);
  }
}
