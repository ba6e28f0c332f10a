import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { CulmError, errorMessage } from '../core/errors.js';
import { defaultTemplatePath } from './defaults.js';
import { keyLabel } from './validate.js';

/** The file name of Bamboo's shipped template (`config/haproxy_template.cfg`), a Go template. */
const BAMBOO_TEMPLATE = 'haproxy_template.cfg';

/**
 * Bamboo's templates are Go templates (`{{ range .Apps }}`); culm's are Eta. Rendering one through Eta would
 * fail with a parse error or put `{{` into the config: refuse it at start with one line saying what to do.
 * Bamboo's own file name is refused whether the file exists or not (a Bamboo config copied as is names it).
 */
export function checkTemplate(path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (basename(path) === BAMBOO_TEMPLATE) throw goTemplate(path, `is Bamboo's Go template ${BAMBOO_TEMPLATE}`);
    throw new CulmError('E_CONFIG', `config ${keyLabel('haproxy.templatePath')}: cannot read ${path}: ${errorMessage(err)}`);
  }
  // Eta tags: a Bamboo template ported to Eta in place keeps its name.
  if (text.includes('<%')) return;
  if (basename(path) === BAMBOO_TEMPLATE) throw goTemplate(path, `is Bamboo's Go template ${BAMBOO_TEMPLATE}`);
  // A .cfg is HAProxy's own syntax, where `{{` never occurs; elsewhere only Go's actions count.
  const go = path.endsWith('.cfg') ? text.includes('{{') : /\{\{-?\s*(range|if|with|define|template|end|\$|\.)/.test(text);
  if (go) throw goTemplate(path, 'holds Go template syntax ({{ }}), Bamboo\'s format');
}

function goTemplate(path: string, what: string): CulmError {
  return new CulmError('E_CONFIG', `config ${keyLabel('haproxy.templatePath')}: ${path} ${what}; culm renders Eta templates, and its default `
    + `templates/haproxy.cfg.eta does what Bamboo's default template did: drop the key (or set it to ${defaultTemplatePath()}), `
    + 'or port your changes to Eta (README, "Migrating from Bamboo")');
}
