/**
 * A copy of `list` that holds exactly its elements. An array built by `push` or `filter` keeps room to grow: a
 * one-element array from `filter` is ~190 bytes of heap, its exact copy ~65. For the arrays the model and the
 * views keep per task and per app (each of 100,000 tasks' ports and addresses, each view's servers, ports,
 * ACLs) that room was ~30 MB of culm's heap at 10,000 apps.
 */
export const exact = <T>(list: T[]): T[] => list.slice();
