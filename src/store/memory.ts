/** In-memory stores, for unit tests and for `--ephemeral` runs. */
import type { Rule } from '../core/model.js';
import type { RuleStore, Snapshot, StateStore } from './types.js';

export class MemoryRuleStore implements RuleStore {
  private rules = new Map<string, Rule>();
  private listeners = new Set<(rules: Rule[]) => void>();

  async list(): Promise<Rule[]> {
    return [...this.rules.values()];
  }

  async put(rule: Rule): Promise<void> {
    this.rules.set(rule.id, rule);
  }

  async delete(id: string): Promise<boolean> {
    return this.rules.delete(id);
  }

  /** Simulates a write by another instance: stores and notifies watchers. */
  async putExternal(rule: Rule): Promise<void> {
    this.rules.set(rule.id, rule);
    const all = [...this.rules.values()];
    for (const l of this.listeners) l(all);
  }

  watch(listener: (rules: Rule[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  health(): { ok: boolean; detail: string } {
    return { ok: true, detail: 'memory' };
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }
}

export class MemoryStateStore implements StateStore {
  snapshot: Snapshot | null = null;

  async load(): Promise<Snapshot | null> {
    return this.snapshot;
  }

  async save(snapshot: Snapshot): Promise<void> {
    this.snapshot = snapshot;
  }

  async close(): Promise<void> {}
}
