import t from 'tap';
import { CulmError } from '../../src/core/errors.js';
import { ERROR_CODES, errorCodesMarkdown } from '../../src/core/error-codes.js';

t.test('CulmError carries code, status and cause', async (t) => {
  const cause = new Error('root');
  const e = new CulmError('E_BAD_BODY', 'boom', { cause, status: 400 });
  t.equal(e.code, 'E_BAD_BODY');
  t.equal(e.status, 400);
  t.equal(e.cause, cause);
  t.equal(new CulmError('E_RENDER', 'y').status, 500);
});

t.test('the catalog: every code culm raises is in it, and nothing else', async (t) => {
  const { readdirSync, readFileSync, statSync } = await import('node:fs');
  const { join } = await import('node:path');
  const root = new URL('../../src/', import.meta.url).pathname;
  const used = new Set<string>();
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith('.ts') && !path.endsWith('error-codes.ts')) for (const m of readFileSync(path, 'utf8').matchAll(/'(E_[A-Z_]+)'/g)) used.add(m[1]);
    }
  };
  walk(root);
  const catalog = Object.keys(ERROR_CODES);
  t.same([...used].filter((c) => !catalog.includes(c)).sort(), [], 'no code outside the catalog');
  t.same(catalog.filter((c) => !used.has(c)).sort(), [], 'no code in the catalog that nothing raises');
  t.match(errorCodesMarkdown(), '| `E_RULE_ACL_FILE` | 400 |');
});
