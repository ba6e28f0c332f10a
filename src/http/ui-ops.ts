/**
 * The console's operations pages, rendered on the server from the same core and metrics the API reads:
 *   - `/ui/history`: each apply with its mode, durations, config hash, reasons, what it left out and its diff
 *     (fetched when opened), each rule write with who made it; the applied config, with a download link;
 *   - `/ui/cluster`: readiness (the `/readyz` body), the instances sharing ZooKeeper with their config hashes
 *     (a hash other than the leader's is marked), and the metrics summary.
 * Both follow the live stream and re-read themselves on each event, as the apps page does. Everything shown is
 * escaped here; the script writes with textContent only.
 */
import { randomBytes } from 'node:crypto';
import type { Metrics, MetricsSummary } from '../metrics/metrics.js';
import type { ApplyRecord, CulmCore, HistoryRecord, Readiness, RuleChangeRecord } from '../pipeline/types.js';
import { HTML_TYPE, send } from './io.js';
import type { Route } from './router.js';
import type { ClusterSource } from './routes/cluster.js';
import { escapeHtml as e, STYLE } from './ui.js';
import { CLIENT_SCRIPT, navLinks, pageHeaders } from './ui-client.js';
import { errorMessage } from '../core/errors.js';

const OPS_STYLE = `pre.diff{background:#f6f6f6;padding:.5em;overflow:auto;max-height:30em;max-width:calc(100vw - 4em);font-size:.9em;margin:0}.hash{font-family:monospace}
tr.apply:has(+ tr.diff) td{border-bottom:none}tr.diff td{padding-top:0}
tr.differs td,.differs{background:#fff3cd}.scroll{overflow-x:auto}.small{font-size:.9em;color:#555}dl.figures{display:grid;grid-template-columns:max-content 1fr;gap:.2em 1em}dt{font-weight:bold}`;

// Re-reads the page on each live event and swaps the [data-live] sections; a diff open stays open (it is fetched
// again). A diff is fetched when its <details> opens, with the page's credentials (asked for on a 401; one that
// failed is fetched again at the next opening).
const OPS_SCRIPT = `${CLIENT_SCRIPT}
const live=document.getElementById('live');
function loadDiff(d){const pre=d.querySelector('pre');if(pre.dataset.loaded)return;pre.dataset.loaded='1';pre.textContent='loading…';
 authRead('/api/history/'+encodeURIComponent(d.dataset.diff)+'/diff').then(async(res)=>{const t=await res.text();if(!res.ok)delete pre.dataset.loaded;
  pre.textContent=res.ok?(t||'(only the map file names changed)'):'not available: '+res.status;}).catch((err)=>{delete pre.dataset.loaded;pre.textContent=String(err);});}
document.addEventListener('toggle',(ev)=>{const d=ev.target;if(d instanceof HTMLDetailsElement&&d.open&&d.dataset.diff)loadDiff(d);},true);
let busy=null,again=false,timer;
function refresh(){if(busy){again=true;return;}
 busy=(async()=>{try{const res=await authFetch(location.pathname);if(!res.ok)return;
  const doc=new DOMParser().parseFromString(await res.text(),'text/html');
  for(const next of doc.querySelectorAll('[data-live]')){const cur=document.getElementById(next.id);if(!cur)continue;
   const open=[...cur.querySelectorAll('details[open][data-diff]')].map((d)=>d.dataset.diff);
   cur.replaceWith(document.adoptNode(next));
   for(const id of open){const d=next.querySelector('details[data-diff="'+CSS.escape(id)+'"]');if(d)d.open=true;}}
 }catch(err){}finally{busy=null;if(again){again=false;refresh();}}})();}
follow(live,()=>{clearTimeout(timer);timer=setTimeout(refresh,250);});`;

function page(title: string, path: string, version: string, nonce: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>culm: ${e(title)}</title><style nonce="${e(nonce)}">${STYLE}\n${OPS_STYLE}</style></head>
<body><header><h1>culm</h1><span>${e(version)}</span><span id="live" role="status" data-state="off">live updates off</span>${navLinks(path)}</header>
<main><h2>${e(title)}</h2>
${body}
</main><script nonce="${e(nonce)}">${OPS_SCRIPT}</script></body></html>
`;
}

/** The time of day, the whole date and time on hover (keeps the table narrow at 700 px). */
const when = (at: number): string => {
  const iso = new Date(at).toISOString();
  return `<td><time datetime="${e(iso)}" title="${e(iso)}">${e(iso.slice(11, 19))}</time></td>`;
};

const ms = (n: number | undefined): string => (n === undefined ? '' : `${Math.round(n * 10) / 10} ms`);

/** How an apply reached HAProxy: a reload, or the runtime API with what it changed (the map, servers). */
export function modeOf(r: ApplyRecord): string {
  if (r.mode === 'reload') return 'reload';
  if (r.mode !== 'runtime') return '';
  const parts = [(r.maps ?? 0) > 0 ? 'map' : '', (r.serverOps ?? 0) > 0 ? `${r.serverOps} server command${r.serverOps === 1 ? '' : 's'}` : ''].filter(Boolean);
  return `runtime${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

function timings(r: ApplyRecord): string {
  const parts = [`${ms(r.durationMs)} in all`];
  if (r.validateMs !== undefined) parts.push(`validate ${ms(r.validateMs)}`);
  if (r.reloadMs !== undefined) parts.push(`reload ${ms(r.reloadMs)}`);
  if (r.runtimeMs !== undefined) parts.push(`runtime API ${ms(r.runtimeMs)}`);
  return parts.join(', ');
}

const OK_RESULTS = new Set(['applied', 'unchanged', 'changed']);

function applyRow(r: ApplyRecord, diffs: boolean): string {
  const why = [...r.reasons, ...(r.error ? [`${r.error.code}: ${r.error.message}`] : [])];
  const hash = r.configHash ? `<span class="hash" title="${e(r.configHash)}">${e(r.configHash.slice(0, 12))}</span>` : '';
  // In a row of its own, the table's width: a long config line scrolls inside the diff, not the page.
  const diff = r.diffId !== undefined && diffs
    ? `\n<tr class="diff"><td colspan="8"><details data-diff="${e(r.diffId)}"><summary>diff</summary><pre class="diff"></pre></details></td></tr>` : '';
  // What HAProxy said of each rule or app this apply left out: one short line, the whole text on hover.
  const leftOut = (r.leftOut ?? []).map((l) => `<div class="small left-out" title="${e(l.error)}">${e(l.kind)} ${e(l.id)}: HAProxy: ${e(l.error.length > 200 ? `${l.error.slice(0, 200)}…` : l.error)}</div>`);
  return `<tr class="apply">${when(r.at)}<td>apply</td><td class="${OK_RESULTS.has(r.result) ? '' : 'bad'}">${e(r.result)}</td>`
    + `<td class="mode">${e(modeOf(r))}</td><td class="small">${e(timings(r))}</td><td>${hash}</td>`
    + `<td>${why.map((w) => `<div>${e(w)}</div>`).join('')}${leftOut.join('')}</td><td></td></tr>${diff}`;
}

function ruleRow(r: RuleChangeRecord): string {
  const what = r.error ? [...r.reasons, `${r.error.code}: ${r.error.message}`] : r.reasons;
  return `<tr class="rule">${when(r.at)}<td>rule ${e(r.action)}</td><td class="${OK_RESULTS.has(r.result) ? '' : 'bad'}">${e(r.result)}</td>`
    + `<td></td><td class="small">${e(ms(r.durationMs))}</td><td></td><td>${what.map((w) => `<div>${e(w)}</div>`).join('')}</td>`
    + `<td class="who">${e(r.who)} <span class="small">from ${e(r.from)}</span></td></tr>`;
}

export function historySection(history: readonly HistoryRecord[], hasDiffs: boolean): string {
  if (history.length === 0) return '<section id="history" data-live><p>Nothing applied yet.</p></section>';
  const rows = [...history].sort((a, b) => b.at - a.at)
    .map((h) => (h.kind === 'rule' ? ruleRow(h) : applyRow(h, hasDiffs))).join('\n');
  return `<section id="history" data-live class="scroll"><table><thead><tr><th>When (UTC)</th><th>What</th><th>Result</th><th>Mode</th><th>Took</th><th>Config</th><th>Why</th><th>Who</th></tr></thead><tbody>\n${rows}\n</tbody></table></section>`;
}

export function renderHistoryPage(core: CulmCore, version: string, nonce: string): string {
  const applied = core.appliedConfig() !== undefined;
  const config = applied
    ? '<p>Applied config: <a id="view-config" href="/api/config" data-auth-link>view</a> · <a id="download" href="/api/config?download=1" download="haproxy.cfg" data-auth-link>download</a></p>'
    : '<p>No config applied yet.</p>';
  return page('History: applies and rule changes', '/ui/history', version, nonce,
    `${config}\n<p class="small">Newest first; the last 50 applies and 50 rule writes (accepted and refused, each with who sent it). A diff is against the config applied before.</p>\n${historySection(core.history(), core.applyDiff !== undefined)}`);
}

function readinessSection(r: Readiness): string {
  const rows = Object.entries(r.checks).map(([name, c]) => `<tr><td>${e(name)}</td><td class="${c.ok ? 'ok' : 'bad'}">${c.ok ? 'ok' : 'failing'}</td><td>${e(c.detail)}</td></tr>`).join('\n');
  return `<section id="readiness" data-live><h3>Readiness (<a href="/readyz">/readyz</a>): <span class="${r.ready ? 'ok' : 'bad'}">${r.ready ? 'ready' : 'not ready'}</span></h3>`
    + `<table><thead><tr><th>Check</th><th>State</th><th>Detail</th></tr></thead><tbody>\n${rows}\n</tbody></table></section>`;
}

interface Instance { id: string; endpoint?: string; version?: string; startedAt?: number; leader?: boolean; lastApply?: { at?: number; result?: string; configHash?: string } }

/** The instances and whose config hash is not the leader's (or, without a leader, not the most common one). */
export function clusterSection(view: unknown, selfLast?: Instance['lastApply']): string {
  const v = (view ?? {}) as { mode?: string; self?: string; leader?: string | null; instances?: Instance[] };
  // Standalone, this instance reports its applies nowhere: its own history says what it applied last.
  const instances = (Array.isArray(v.instances) ? v.instances : []).map((i) => (i.id === v.self && !i.lastApply && selfLast ? { ...i, lastApply: selfLast } : i));
  const counts = new Map<string, number>();
  for (const i of instances) if (i.lastApply?.configHash) counts.set(i.lastApply.configHash, (counts.get(i.lastApply.configHash) ?? 0) + 1);
  const leaderHash = instances.find((i) => i.leader)?.lastApply?.configHash;
  const reference = leaderHash ?? [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
  const summary = counts.size <= 1
    ? `${instances.length} instance${instances.length === 1 ? '' : 's'}${counts.size === 1 ? ', one config hash' : ''}.`
    : `<span class="bad">${counts.size} different config hashes</span> among ${instances.length} instances (marked: not the leader's).`;
  const rows = instances.map((i) => {
    const hash = i.lastApply?.configHash;
    const differs = hash !== undefined && reference !== undefined && hash !== reference;
    return `<tr class="instance${differs ? ' differs' : ''}" data-id="${e(i.id)}"><td><code>${e(i.id)}</code>${i.id === v.self ? ' <small>(this one)</small>' : ''}</td>`
      + `<td>${i.leader ? 'leader' : ''}</td><td>${e(i.endpoint ?? '')}</td><td>${e(i.version ?? '')}</td>`
      + `<td>${e(i.lastApply?.result ?? '')}${i.lastApply?.at ? ` <span class="small">${e(new Date(i.lastApply.at).toISOString())}</span>` : ''}</td>`
      + `<td>${hash ? `<span class="hash" title="${e(hash)}">${e(hash.slice(0, 12))}</span>` : ''}${differs ? ' <strong>differs</strong>' : ''}</td></tr>`;
  }).join('\n');
  return `<section id="cluster" data-live><h3>Cluster (<a href="/api/cluster">/api/cluster</a>): ${e(v.mode ?? '')}</h3><p id="cluster-summary">${summary}</p>`
    + `<table><thead><tr><th>Instance</th><th>Role</th><th>Endpoint</th><th>Version</th><th>Last apply</th><th>Config hash</th></tr></thead><tbody>\n${rows}\n</tbody></table></section>`;
}

function metricsSection(m: MetricsSummary): string {
  const applies = Object.entries(m.applies).sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  const figures: Array<[string, string]> = [
    ['Marathon events', `${m.events.perSecond}/s over the last minute, ${m.events.total} in all`],
    ['Applies', applies],
    ['Reloads', `${m.reloads.count}${m.reloads.count ? `, mean ${m.reloads.meanMs} ms, last ${m.reloads.lastMs ?? '?'} ms` : ''}`],
    ['Runtime API changes', `${m.runtime.count}${m.runtime.count ? `, mean ${m.runtime.meanMs} ms` : ''}; ${m.runtime.failures} fell back to a reload`],
    ['Configs HAProxy refused', String(m.validationFailures)],
    ['HAProxy restarts', String(m.haproxyRestarts)],
  ];
  return `<section id="metrics" data-live><h3>Metrics (<a href="/metrics">/metrics</a>)</h3><dl class="figures">`
    + `${figures.map(([k, v]) => `<dt>${e(k)}</dt><dd>${e(v)}</dd>`).join('')}</dl></section>`;
}

/** The newest apply that delivered a config, as the cluster view shows one. */
function lastApplied(history: readonly HistoryRecord[]): Instance['lastApply'] {
  for (let i = history.length - 1; i >= 0; i--) {
    const h = history[i];
    if (h.kind !== 'rule' && h.result === 'applied') return { at: h.at, result: h.result, configHash: h.configHash };
  }
  return undefined;
}

export async function renderClusterPage(core: CulmCore, metrics: Metrics, cluster: ClusterSource | undefined, version: string, nonce: string): Promise<string> {
  let clusterPart: string;
  try {
    clusterPart = cluster ? clusterSection(await cluster(), lastApplied(core.history())) : '<section id="cluster" data-live><p>No cluster view (standalone).</p></section>';
  } catch (err) {
    clusterPart = `<section id="cluster" data-live><p class="bad">Cluster view unavailable: ${e(errorMessage(err))}</p></section>`;
  }
  return page('Cluster and status', '/ui/cluster', version, nonce, `${readinessSection(core.readiness())}\n${clusterPart}\n${metricsSection(await metrics.summary())}`);
}

export function uiOpsRoutes(core: CulmCore, metrics: Metrics, cluster: ClusterSource | undefined, version: string): Route[] {
  const html = (path: string, render: (nonce: string) => string | Promise<string>): Route => ({
    name: path,
    path,
    handlers: {
      GET: async ({ res }) => {
        const nonce = randomBytes(16).toString('base64');
        send(res, 200, HTML_TYPE, await render(nonce), pageHeaders(nonce));
      },
    },
  });
  return [
    html('/ui/history', (nonce) => renderHistoryPage(core, version, nonce)),
    html('/ui/cluster', (nonce) => renderClusterPage(core, metrics, cluster, version, nonce)),
  ];
}
