import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { configReferenceMarkdown } from '../../src/config/index.js';
import { errorCodesMarkdown } from '../../src/core/error-codes.js';

const path = new URL('../../README.md', import.meta.url).pathname;
const START = /<!-- config-table:start[^>]*-->\n/;
const END = '<!-- config-table:end -->';

t.test('README configuration table is the one generated from the defaults', async (t) => {
  let readme = readFileSync(path, 'utf8');
  const start = START.exec(readme);
  t.ok(start, 'start marker present');
  const from = start!.index + start![0].length;
  const to = readme.indexOf(END);
  t.ok(to > from, 'end marker after start');
  const table = `${configReferenceMarkdown().trim()}\n`;
  if (process.env.UPDATE_README) {
    readme = readme.slice(0, from) + table + readme.slice(to);
    writeFileSync(path, readme);
  }
  t.equal(readme.slice(from, to), table, 'run UPDATE_README=1 npx tap test/unit/readme.test.ts to refresh');
});

t.test('README error-code table is the one generated from the catalog', async (t) => {
  let readme = readFileSync(path, 'utf8');
  const start = /<!-- error-codes:start[^>]*-->\n/.exec(readme);
  t.ok(start, 'start marker present');
  const from = start!.index + start![0].length;
  const to = readme.indexOf('<!-- error-codes:end -->');
  t.ok(to >= from, 'end marker after start');
  const table = `${errorCodesMarkdown()}\n`;
  if (process.env.UPDATE_README) {
    readme = readme.slice(0, from) + table + readme.slice(to);
    writeFileSync(path, readme);
  }
  t.equal(readme.slice(from, to), table, 'run UPDATE_README=1 npx tap test/unit/readme.test.ts to refresh');
});

t.test('README names the set-up and test commands CI runs', async (t) => {
  const readme = readFileSync(path, 'utf8');
  const ci = readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8');
  t.match(readme, 'bash .ci/setup && npm test');
  t.match(readme, 'bash .ci/setup && npm run demo');
  t.match(ci, 'bash .ci/setup');
  t.match(ci, 'npm test');
});
