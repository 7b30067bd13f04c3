// The JS cut-out on tests/fixtures/shared_export and shared_export_int8 (shared exports of
// the Python exporter, made by make_shared_export.py; the int8 one's cut-outs relocate pooled
// quantization vectors): the bytes of the Python cut-out, and its refusals.
// tests/test_web_demo.py also checks float32 and float16 exports made in the test run.
import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import {readFileSync} from 'node:fs';
import {test} from 'node:test';

import {CutoutError, cutOut, floatToHalf, halfToFloat, readIndex} from '../src/cutout.js';

/** The manifest and shared file of a fixture export. */
function fixture(name) {
  const directory = new URL(`../../tests/fixtures/${name}/`, import.meta.url);
  return {manifest: JSON.parse(readFileSync(new URL('manifest.json', directory), 'utf8')),
          content: new Uint8Array(readFileSync(new URL('shared.tflite', directory)))};
}
const {manifest, content} = fixture('shared_export');
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

for (const name of ['shared_export', 'shared_export_int8']) {
  test(`every cut-out of ${name} has the bytes of the Python cut-out (the manifest sha256)`,
       () => {
         const {manifest, content} = fixture(name);
         assert.equal(manifest.models.length, 4);
         const index = readIndex(content);
         if (name.endsWith('int8')) assert.ok(index.vectors.length > 0);
         for (const model of manifest.models) {
           const cutout = cutOut(content, model.signature, index);
           assert.ok(cutout instanceof Uint8Array);
           assert.equal(cutout.byteLength, model.bytes, model.signature);
           assert.equal(sha256(cutout), model.sha256, model.signature);
         }
       });
}

test('a shared file at an odd offset of its buffer cuts out the same bytes', () => {
  const shifted = new Uint8Array(content.byteLength + 1);
  shifted.set(content, 1);
  const model = manifest.models.at(-1);
  assert.equal(sha256(cutOut(shifted.subarray(1), model.signature)), model.sha256);
});

test('an unknown signature and a file without index are one-line errors', () => {
  assert.throws(() => cutOut(content, 'x'),
                (e) => e instanceof CutoutError && /no signature 'x'; it has even_level1/.test(
                    e.message) && !e.message.includes('\n'));
  const renamed = Buffer.from(content).toString('latin1').replace('dvn_cutout', 'xxx_cutout');
  assert.throws(() => cutOut(new Uint8Array(Buffer.from(renamed, 'latin1')), 'even_level1'),
                /no cut-out index \(metadata 'dvn_cutout'\)/);
  assert.throws(() => cutOut(new Uint8Array(64), 'even_level1'), /not a \.tflite file/);
});

test('float16 rounding gives numpy\'s bits: ties, subnormals, overflow, underflow', () => {
  // {float32 bits, numpy's float16 bits}, as the Java core's HalfFloatTest.
  const numpy = [
    [0x00000000, 0x0000], [0x80000000, 0x8000], [0x3f800000, 0x3c00], [0xc0200000, 0xc100],
    [0x477fe000, 0x7bff], [0x477ff000, 0x7c00], [0x477feffd, 0x7bff], [0x322bcc77, 0x0000],
    [0x33000000, 0x0000], [0x33000001, 0x0001], [0x33800000, 0x0001], [0x33c00000, 0x0002],
    [0x337ffae5, 0x0001], [0x387fda40, 0x03ff], [0x387fba0a, 0x03ff], [0x3f802000, 0x3c01],
    [0x3f801000, 0x3c00], [0x3f803000, 0x3c02], [0x3dcccccd, 0x2e66], [0xc0490fd0, 0xc248],
    [0x49742400, 0x7c00], [0xba83126f, 0x9419]];
  const asFloat = (bits) => new Float32Array(new Uint32Array([bits]).buffer)[0];
  for (const [float, half] of numpy) {
    assert.equal(floatToHalf(asFloat(float)), half, float.toString(16));
  }
  for (let bits = 0; bits < 0x10000; bits++) {
    if ((bits & 0x7c00) === 0x7c00 && (bits & 0x3ff) !== 0) continue;  // NaN
    assert.equal(floatToHalf(halfToFloat(bits)), bits, bits.toString(16));
  }
});
