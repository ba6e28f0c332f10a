/**
 * Pure: the server states a restarted HAProxy may load. `<OutputPath>.state` is saved just before each reload
 * (`show servers state` of the process being replaced) and describes the servers of the config that reload
 * loaded. Runtime changes since then rewrite the config but not this file, so after a `kill -9` the restart
 * (which cannot ask a dead process) would apply old states to the current config: a server culm added again
 * since, under a name that was in maintenance then (a task taken out while connections lingered, then back),
 * would stay in maintenance for good. Only the states of servers the config has kept unchanged since the
 * reload are still true; the others start as their config line says.
 */
import { runtimeOps } from './server-diff.js';

/**
 * `state` (the file's text) without the lines of servers added or re-addressed since `reloaded` (the config
 * the state was saved for), given `current` (the config HAProxy restarts from). Null when the two configs
 * differ by more than servers (the state then says nothing reliable of the current one: load none).
 */
export function statesStillTrue(state: string, reloaded: string, current: string): string | null {
  // A rule applied through the runtime map renames the map file in the config (its name carries a hash of its
  // content): that changes no server, so map file names are not told apart here.
  const ops = runtimeOps(withoutMapNames(reloaded), withoutMapNames(current));
  if (ops === null) return null;
  const changed = new Set(ops.filter((o) => o.op === 'add').map((o) => `${o.backend}/${o.server.name}`));
  if (changed.size === 0) return state;
  // `show servers state`: a version line, a `# be_id be_name srv_id srv_name …` header, then one line a server.
  return state.split('\n').filter((line) => {
    if (line === '' || line.startsWith('#') || !line.includes(' ')) return true;
    const f = line.split(' ');
    return !changed.has(`${f[1]}/${f[3]}`);
  }).join('\n');
}

/** culm's route map files (`<output>.routes-<hash>.map`, see core/view.ts) under one name. */
const withoutMapNames = (text: string): string => text.replace(/\.routes-[0-9a-f]{16}\.map\b/g, '.routes.map');
