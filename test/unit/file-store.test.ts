import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { writeAtomically } from '../../src/fs/atomic.js';
import { FileStateStore } from '../../src/store/file.js';
import { app, task, tasks } from '../helpers/builders.js';

const dir = (): string => mkdtempSync(join(tmpdir(), 'culm-file-store-'));

t.test('writeAtomically in pieces: the joined text, batches across the 1 MB boundary, no temp file left', async (t) => {
  const d = dir();
  const path = join(d, 'out.txt');
  const pieces = Array.from({ length: 5000 }, (_, i) => `${i}:${'é'.repeat(i % 700)}\n`);
  await writeAtomically(path, pieces);
  t.equal(readFileSync(path, 'utf8'), pieces.join(''));
  t.same(readdirSync(d), ['out.txt']);
  await writeAtomically(path, (function* () { /* nothing */ })());
  t.equal(readFileSync(path, 'utf8'), '', 'no pieces: an empty file');
  const failing = function* (): Generator<string> {
    yield 'half';
    throw new Error('piece failed');
  };
  await t.rejects(writeAtomically(path, failing()), /piece failed/);
  t.equal(readFileSync(path, 'utf8'), '', 'a failed write leaves the old file');
  t.same(readdirSync(d), ['out.txt'], 'and no temp file');
});

t.test('FileStateStore: saved app by app as JSON.stringify would, loaded back the same', async (t) => {
  const d = dir();
  const store = new FileStateStore(d);
  t.equal(await store.load(), null, 'nothing saved yet');
  const apps = [
    app('/web', tasks(task(31001), task(31002)), (a) => { a.labels = { 'a"b': 'ü\n' }; }),
    app('/empty'),
  ];
  const snapshot = { savedAt: 1234, apps };
  await store.save(snapshot);
  t.equal(readFileSync(join(d, 'state.json'), 'utf8'), JSON.stringify(snapshot));
  t.same(await store.load(), snapshot);
  await store.save({ savedAt: 5, apps: [] });
  t.same(await store.load(), { savedAt: 5, apps: [] });
});

t.test('FileStateStore: a damaged or foreign file loads as nothing', async (t) => {
  const d = dir();
  const store = new FileStateStore(d);
  for (const text of ['', '{"savedAt":1,"apps":[{"id":"/a"}', '{"apps":[]}', '{"savedAt":"x","apps":[]}', '[]', 'garbage']) {
    writeFileSync(join(d, 'state.json'), text);
    t.equal(await store.load(), null, JSON.stringify(text));
  }
});
