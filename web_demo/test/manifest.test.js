// manifest.js on tests/fixtures/shared_export/manifest.json (format 2, the shared layout)
// and on broken copies of it: each refusal is one line that says what is wrong.
import assert from 'node:assert/strict';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';

import {parseManifest} from '../src/manifest.js';

const url = new URL('../../tests/fixtures/shared_export/manifest.json', import.meta.url);
const raw = JSON.parse(readFileSync(url, 'utf8'));
const edited = (change) => {
  const copy = structuredClone(raw);
  change(copy);
  return copy;
};

test('a shared-layout manifest gives its file and each level\'s signature', () => {
  const manifest = parseManifest(raw, url.href);
  assert.equal(manifest.layout, 'shared');
  assert.deepEqual([...manifest.files.keys()], ['shared.tflite']);
  assert.equal(manifest.files.get('shared.tflite').url, new URL('shared.tflite', url).href);
  assert.deepEqual(manifest.tasks.map((task) => task.levels.map((info) => info.signature)),
                   [['even_level1', 'even_level2'], ['odd_level1', 'odd_level2']]);
});

test('a format 1 manifest is per-level: no files, no signatures', () => {
  const perLevel = edited((m) => {
    m.format = 1;
    delete m.layout;
    delete m.files;
    m.models.forEach((model) => delete model.signature);
  });
  const manifest = parseManifest(perLevel, url.href);
  assert.equal(manifest.layout, 'per-level');
  assert.equal(manifest.files.size, 0);
  assert.equal(manifest.tasks[0].levels[0].signature, null);
});

test('broken shared manifests are refused with one line each', () => {
  for (const [change, message] of [
    [(m) => { m.format = 3; }, /format must be 1 or 2, got 3/],
    [(m) => { m.layout = 'per-level'; }, /format 2 has layout shared, not per-level/],
    [(m) => { delete m.files; }, /files is missing or empty/],
    [(m) => { delete m.models[1].signature; }, /task even level 2 has no signature/],
    [(m) => { m.models[0].file = 'other.tflite'; }, /names other\.tflite, not one of the files/],
  ]) {
    assert.throws(() => parseManifest(edited(change), url.href),
                  (error) => message.test(error.message) && !error.message.includes('\n'));
  }
});

// tests/fixtures/per_class_recall: the fixture that the Python runtime's and the Android core's
// manifest tests read too, each checking the values of its expected.json.
const perClass = new URL('../../tests/fixtures/per_class_recall/', import.meta.url);
const perClassRaw = JSON.parse(readFileSync(new URL('manifest.json', perClass), 'utf8'));

test('each level\'s per-class recall and worst class are those every client reads', () => {
  const manifest = parseManifest(perClassRaw, new URL('manifest.json', perClass).href);
  const expected = JSON.parse(readFileSync(new URL('expected.json', perClass), 'utf8')).models;
  assert.equal(expected.length, 3);
  for (const c of expected) {
    const info = manifest.tasks.find((task) => task.name === c.task)
        .levels.find((l) => l.level === c.level);
    assert.deepEqual(info.perClassRecall, c.per_class_recall, `${c.task} level ${c.level}`);
    assert.deepEqual(info.worst, c.worst_label === null ? null :
                       {label: c.worst_label, recall: c.worst_recall}, `${c.task} ${c.level}`);
  }
});

test('a per_class_recall that does not fit the task is refused with one line', () => {
  for (const recall of [[0.9, 0.0], [0.9, 0.0, null, 7.5], [0.9, 0.0, null, 'high']]) {
    const copy = structuredClone(perClassRaw);
    copy.models[0].per_class_recall = recall;
    assert.throws(() => parseManifest(copy, perClass.href),
                  (error) => /task animals level 1: per_class_recall must hold 4 recalls/
                      .test(error.message) && !error.message.includes('\n'));
  }
});
