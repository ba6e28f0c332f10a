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

/**
 * `show servers state` as the next process should load it, given `applied` (the config the running process was
 * last brought to: reloads and runtime changes). A reloaded HAProxy takes a saved server's weight only when the
 * config's is the saved "initial" weight (srv_iweight: the one it started or was added with): after culm changed
 * a weight at runtime (5 → 7, the file saying 7), a later config back at 5 would meet that initial 5 and
 * restore 7. Each server whose runtime weight differs from its initial one gets, as initial, the weight its
 * line in `applied` names: the config's weight wins when culm changed it since, an operator's `set weight`
 * stays until it does, as HAProxy means it. Servers whose lines name no weight are left as they are.
 */
export function withIntendedWeights(state: string, applied: string): string {
  const line = intendedWeights(applied);
  let changed = false;
  const lines = state.split('\n').map((l) => {
    const out = line(l);
    if (out !== l) changed = true;
    return out;
  });
  return changed ? lines.join('\n') : state;
}

/**
 * `withIntendedWeights` one line of `show servers state` at a time, for a state streamed to its file (100,000
 * servers are ~18 MB of text, never held whole: see runtime-api.ts `saveServersState`). The config is read
 * for weights only when a line's runtime weight differs from its initial one (rare: after `set weight`).
 */
export function intendedWeights(applied: string): (line: string) => string {
  let weights: Map<string, number> | undefined;
  return (line) => {
    if (line.startsWith('#') || !weightsDiffer(line)) return line;
    const f = line.split(' ');
    weights ??= serverWeights(applied);
    const weight = weights.get(`${f[1]}/${f[3]}`);
    if (weight === undefined || String(weight) === f[8]) return line;
    f[8] = String(weight);
    return f.join(' ');
  };
}

/** Whether a state line's srv_uweight (field 7) and srv_iweight (field 8) differ, without splitting the line. */
function weightsDiffer(line: string): boolean {
  let at = -1;
  for (let n = 0; n < 7; n++) {
    at = line.indexOf(' ', at + 1);
    if (at < 0) return false;
  }
  const seventh = at + 1;
  const eighth = line.indexOf(' ', seventh);
  if (eighth < 0) return false; // no field 8
  const next = line.indexOf(' ', eighth + 1);
  const end = next < 0 ? line.length : next;
  return end - (eighth + 1) !== eighth - seventh || line.slice(seventh, eighth) !== line.slice(eighth + 1, end);
}

/** `backend/server` → the weight its `server` line names. */
function serverWeights(text: string): Map<string, number> {
  const out = new Map<string, number>();
  let backend: string | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const section = /^(\S+)(?:\s+(\S+))?/.exec(line);
    if (section) {
      backend = section[1] === 'backend' && section[2] ? section[2] : undefined;
      continue;
    }
    if (backend === undefined) continue;
    const m = /^\s+server\s+(\S+)\s+\S+(?:\s+.*?)?\sweight\s+(\d+)(?:\s|$)/.exec(line);
    if (m) out.set(`${backend}/${m[1]}`, Number(m[2]));
  }
  return out;
}
