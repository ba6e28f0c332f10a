import t from 'tap';
import { CulmError } from '../../src/core/errors.js';

t.test('CulmError carries code, status and cause', async (t) => {
  const cause = new Error('root');
  const e = new CulmError('E_X', 'boom', { cause, status: 400 });
  t.equal(e.code, 'E_X');
  t.equal(e.status, 400);
  t.equal(e.cause, cause);
  t.equal(new CulmError('E_Y', 'y').status, 500);
});
