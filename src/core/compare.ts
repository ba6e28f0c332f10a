/**
 * The one string order for ids: UTF-16 code units, no locale (the same on every machine, and for the ASCII
 * ids Marathon allows the same as Go's `sort.Strings` in Bamboo).
 */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** By `id`: apps, tasks, rules. */
export const byId = (a: { readonly id: string }, b: { readonly id: string }): number => compareText(a.id, b.id);

/** By `Id`: the template's views. */
export const byViewId = (a: { readonly Id: string }, b: { readonly Id: string }): number => compareText(a.Id, b.Id);
