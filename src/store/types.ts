/** Rules and the state snapshot live behind these interfaces: file (embedded default), ZooKeeper, memory. */
import type { App, Rule } from '../core/model.js';

export interface RuleStore {
  /** Every stored rule. Throws CulmError E_STORE_UNAVAILABLE (status 503) when the store cannot answer. */
  list(): Promise<Rule[]>;
  put(rule: Rule): Promise<void>;
  /** Resolves false when there was no such rule. */
  delete(id: string): Promise<boolean>;
  /** Rules changed by someone else (another instance): the listener gets the whole new list. */
  watch(listener: (rules: Rule[]) => void): () => void;
  /** For /readyz: can the store take writes now? */
  health(): { ok: boolean; detail: string };
  /**
   * False when a write would certainly fail now (ZooKeeper disconnected): callers refuse at once with 503
   * instead of doing work first. Absent: assume writable and let the write report.
   */
  writable?(): boolean;
  close(): Promise<void>;
}

export interface Snapshot {
  savedAt: number;
  apps: App[];
}

export interface StateStore {
  load(): Promise<Snapshot | null>;
  save(snapshot: Snapshot): Promise<void>;
  close(): Promise<void>;
}
