import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { configReferenceMarkdown } from '../../src/config/index.js';
import { errorCodesMarkdown } from '../../src/core/error-codes.js';
import { metricsMarkdown } from '../../src/metrics/reference.js';

const path = new URL('../../README.md', import.meta.url).pathname;

/** The README's text between `<!-- NAME:start ... -->` and `<!-- NAME:end -->` is `generated` (UPDATE_README=1 rewrites it). */
function generatedBlock(t: Test, name: string, generated: string): void {
  let readme = readFileSync(path, 'utf8');
  const start = new RegExp(`<!-- ${name}:start[^>]*-->\n`).exec(readme);
  t.ok(start, 'start marker present');
  const from = start!.index + start![0].length;
  const to = readme.indexOf(`<!-- ${name}:end -->`);
  t.ok(to >= from, 'end marker after start');
  if (process.env.UPDATE_README) {
    readme = readme.slice(0, from) + generated + readme.slice(to);
    writeFileSync(path, readme);
  }
  t.equal(readme.slice(from, to), generated, 'run UPDATE_README=1 npx tap test/unit/readme.test.ts to refresh');
}

t.test('README configuration table is the one generated from the defaults', async (t) => {
  generatedBlock(t, 'config-table', `${configReferenceMarkdown().trim()}\n`);
});

t.test('README error-code table is the one generated from the catalog', async (t) => {
  generatedBlock(t, 'error-codes', `${errorCodesMarkdown()}\n`);
});

t.test('README metrics table lists every metric /metrics exposes', async (t) => {
  generatedBlock(t, 'metrics-table', `${metricsMarkdown()}\n`);
});

t.test('README names the set-up and test commands CI runs', async (t) => {
  const readme = readFileSync(path, 'utf8');
  const ci = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');
  t.match(readme, 'bash .ci/setup && npm test');
  t.match(readme, 'bash .ci/setup && npm run demo');
  t.match(ci, 'bash .ci/setup');
  t.match(ci, 'npm test');
});
