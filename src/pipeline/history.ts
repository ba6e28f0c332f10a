/**
 * What `/api/history` lists: apply records and the audit of rule writes, merged by time. Each kind has its own
 * bound, and refused writes have theirs, so anonymous 401s cannot push accepted changes or applies out.
 */
import type { ApplyRecord, HistoryRecord, RuleChangeRecord } from './types.js';

export const HISTORY_BOUND = 50;

export class RuleChangeLog {
  private readonly changed: RuleChangeRecord[] = [];
  private readonly refused: RuleChangeRecord[] = [];

  add(record: RuleChangeRecord): void {
    const list = record.result === 'changed' ? this.changed : this.refused;
    list.push(record);
    if (list.length > HISTORY_BOUND) list.shift();
  }

  list(): RuleChangeRecord[] {
    return mergeByTime(this.changed, this.refused);
  }
}

/** Oldest first; apply records are marked `kind: "apply"` (rule records already say `"rule"`). */
export function mergeHistory(applies: readonly ApplyRecord[], rules: readonly RuleChangeRecord[]): HistoryRecord[] {
  if (rules.length === 0) return applies.map((r) => ({ kind: 'apply', ...r }));
  return mergeByTime(applies.map((r): HistoryRecord => ({ kind: 'apply', ...r })), rules);
}

function mergeByTime<A extends { at: number }, B extends { at: number }>(a: readonly A[], b: readonly B[]): Array<A | B> {
  const out: Array<A | B> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i].at <= b[j].at)) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}
