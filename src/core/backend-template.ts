/**
 * A per-app template override (Bamboo #240): an app (label `HAPROXY_TEMPLATE`) or its REST rule
 * (`Config.template`, which wins, as rules do) names a partial of the template directory that the default
 * template renders for that app's backends instead of `backend.eta`, with the same data (`{ app }`).
 * marathon-lb has no such label (its per-app overrides are the raw labels, raw-labels.ts): the name is
 * culm's, app-wide because a partial renders all of an app's backends, as `backend.eta` does. The name is a
 * plain file name ending `.eta` (no `/`, no `..`): it can only name a file beside the main template. Whether
 * that file exists is the renderer's to say (a REST PUT checks it before storing). Pure.
 */
import type { App, Rule } from './model.js';
import { shown } from './input-grammar.js';

export const TEMPLATE_LABEL = 'HAPROXY_TEMPLATE';
export const TEMPLATE_CONFIG_KEY = 'template';

const PARTIAL = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,250}\.eta$/;

/** Why `name` cannot name a partial ('' when it can). */
export function partialNameProblem(name: string): string {
  if (!PARTIAL.test(name) || name.includes('..')) return `${shown(name)} is not a partial's file name (letters, digits, _ . -, ending .eta; no / or ..)`;
  return '';
}

/** The partial an app's backends are rendered with ('' for `backend.eta`), and why a named one is refused. */
export function backendTemplateOf(app: App, rule: Rule | undefined, trustLabels = false): { name: string; problem: string } {
  const fromRule = rule?.config[TEMPLATE_CONFIG_KEY]?.trim();
  // A partial an operator wrote for one app (an internal header, a looser check) must not be chosen by any app
  // owner: the label is honoured only with HAProxy.TrustLabelConfig; a REST rule (a write the API authorises) always.
  const name = fromRule || (trustLabels ? app.labels[TEMPLATE_LABEL]?.trim() : '') || '';
  if (!name) return { name: '', problem: '' };
  const why = partialNameProblem(name);
  if (!why) return { name, problem: '' };
  return { name: '', problem: `${fromRule ? `rule Config.${TEMPLATE_CONFIG_KEY}` : `label ${TEMPLATE_LABEL}`} ${why}: app left out` };
}
