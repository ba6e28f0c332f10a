/**
 * Which of some suspects make a check stall (`haproxy -c` stopped at its time, CPU-time or memory limit), by
 * bisection: HAProxy names no file when it is stopped, so the only question that can be asked is "does the
 * check still stall with these held out?". One culprit among n costs at most ceil(log2 n) probes that stall
 * (each costs the limit) and as many that pass (quick), after the first, with every suspect held out. Assumes
 * that holding more out never makes a check stall that did not. Pure: the probe is given.
 */

/** `culprits`: proven to stall the check alone among the rest; `unresolved`: held out because the probes ran out. */
export interface StallSearch<T> {
  culprits: T[];
  unresolved: T[];
  probes: number;
}

/**
 * `stalls(heldOut)` says whether the check stalls with `heldOut` left out (a new set each call). Called only
 * after a check with every suspect in stalled. Undefined when it stalls with all of them held out: the
 * fault is elsewhere. At most `maxProbes` probes (at least 1), and none begun once `expired()` says the search's
 * time is up (after the first); suspects left untested when they run out are `unresolved`.
 */
export async function searchStalls<T>(suspects: readonly T[], stalls: (heldOut: ReadonlySet<T>) => Promise<boolean>, maxProbes: number, expired: () => boolean = () => false): Promise<StallSearch<T> | undefined> {
  const out = new Set(suspects);
  let probes = 0;
  const probe = (): Promise<boolean> => {
    probes++;
    return stalls(new Set(out));
  };
  if (await probe()) return undefined;
  const spent = (): boolean => probes >= maxProbes || expired();
  const culprits: T[] = [];
  const unresolved: T[] = [];
  /** Tries `group` (held out, unknown) back in: kept in when the check passes with it, else searched. */
  const tryBack = async (group: readonly T[]): Promise<void> => {
    if (spent()) return void unresolved.push(...group);
    for (const x of group) out.delete(x);
    if (!(await probe())) return; // none of them stalls it
    for (const x of group) out.add(x);
    await search(group);
  };
  /** `group` is held out and holds a culprit: the check stalls with it back in, passes without it. */
  const search = async (group: readonly T[]): Promise<void> => {
    if (group.length <= 1) return void culprits.push(...group);
    const half = group.slice(0, group.length >> 1);
    const rest = group.slice(group.length >> 1);
    if (spent()) return void unresolved.push(...group);
    for (const x of half) out.delete(x);
    if (!(await probe())) return search(rest); // the first half passes: the culprit is in the rest
    for (const x of half) out.add(x);
    await search(half);
    await tryBack(rest);
  };
  await search(suspects);
  return { culprits, unresolved, probes };
}
