/**
 * Cuts one signature out of a shared-layout .tflite (`python -m export --layout=shared`):
 * a standalone model of one (task, level) holding only the weights it uses.
 *
 * The same steps and the same bytes as dvn_runtime/cutout.py, which documents the layout,
 * and the Android core's SharedModelFile: the manifest's sha256 of a model is that of its
 * cut-out. The file's cut-out index is JSON in its metadata entry `dvn_cutout`. A cut-out's
 * "made" buffers (weights with batch norm folded in) are computed as numpy does: float32
 * products, float16 rounded to nearest even. Plain JS (typed arrays on a little-endian host,
 * as every browser and node platform is): it runs in node and in the browser.
 */
import {Table} from './tflite_file.js';

const INDEX_NAME = 'dvn_cutout';
const READ_VERSIONS = [3, 4, 5];  // 3: no scale axis (outer rows); before 5: no pooled vectors
const ALIGN = 16;
const MODEL_VERSION = 3;
// Model table fields of LiteRT's schema.fbs, in vtable order; 0 marks a field left out.
const MODEL_VTABLE = [20, 28, 4, 8, 12, 0, 16, 0, 20, 24];
const EMPTY_BUFFER_VTABLE = [4, 4];
const BUFFER_VTABLE = [10, 24, 0, 8, 16];  // data (absent), offset (uint64), size (uint64)
// schema.fbs field numbers.
const MODEL_BUFFERS = 4;
const MODEL_METADATA = 6;
const METADATA_NAME = 0;
const METADATA_BUFFER = 1;
const BUFFER_OFFSET = 1;
const BUFFER_SIZE = 2;
const WEIGHT_BYTES = {float32: 4, float16: 2};

/** A shared file without a usable cut-out index, or without the signature asked for. */
export class CutoutError extends Error {}

/** The cut-out index (parsed JSON) of a shared file's bytes; CutoutError when it has none. */
export function readIndex(fileBytes) {
  let index;
  try {
    const model = Table.root(fileBytes);
    const entry = model.tables(MODEL_METADATA).find((m) => m.string(METADATA_NAME) === INDEX_NAME);
    if (!entry) {
      throw new CutoutError(`it has no cut-out index (metadata '${INDEX_NAME}'): it is not a ` +
                            'shared-layout file of `python -m export --layout=shared`');
    }
    const uint64 = (view, at) => Number(view.getBigUint64(at, true));
    const buffer = model.tables(MODEL_BUFFERS)[entry.scalar(METADATA_BUFFER, uint32, 0)];
    const offset = buffer.scalar(BUFFER_OFFSET, uint64, 0);
    index = JSON.parse(new TextDecoder('utf-8', {fatal: true}).decode(
        fileBytes.subarray(offset, offset + buffer.scalar(BUFFER_SIZE, uint64, 0))));
  } catch (error) {
    if (error instanceof CutoutError) throw error;
    throw new CutoutError(`its cut-out index cannot be read (${error.message})`);
  }
  if (!READ_VERSIONS.includes(index?.version)) {
    throw new CutoutError(`its cut-out index has version ${index?.version}; this demo reads ` +
                          `versions ${READ_VERSIONS.join(', ')}: export again`);
  }
  return index;
}

/**
 * The standalone .tflite (Uint8Array) of signature `signatureKey` of a shared file's bytes.
 * `index` is readIndex(fileBytes), passed to cut several signatures out of one file.
 */
export function cutOut(fileBytes, signatureKey, index = readIndex(fileBytes)) {
  const signature = index.signatures.find((s) => s.key === signatureKey);
  if (!signature) {
    throw new CutoutError(`it has no signature '${signatureKey}'; it has ` +
                          index.signatures.map((s) => s.key).join(', '));
  }
  try {
    return cut(fileBytes, index, signature);
  } catch (error) {
    throw new CutoutError(`its cut-out index does not fit the file (${error.message})`);
  }
}

const uint32 = (view, at) => view.getUint32(at, true);
const aligned = (position, alignment = ALIGN) => Math.ceil(position / alignment) * alignment;
const product = (values) => values.reduce((a, b) => a * b, 1);

/** Bytes of a made buffer. */
function madeSize(recipe) {
  return product(recipe.shape) * WEIGHT_BYTES[recipe.type];
}

function cut(bytes, index, signature) {
  const {data} = index;
  const used = [...new Set([...signature.buffers, ...index.metadata.buffers])]
      .sort((a, b) => a - b);
  const {made} = signature;
  const count = used.length + made.length;
  const codes = index.operator_codes.tables;
  const metadata = index.metadata.tables;
  const table = 8 + 2 * MODEL_VTABLE.length;  // the model table follows the root, "TFL3", vtable
  let vectors = table + 28;
  const buffers = aligned(vectors + 4 * (5 + codes.length + 1 + data.length + made.length +
                                         metadata.length + 1), 8);
  const empty = buffers + 4;  // the empty Buffer table
  const first = buffers + 24;  // the first data Buffer table
  const regions = [index.operator_codes.region, index.metadata.region, signature.region,
                   signature.signature_def.slice(0, 2)];
  const starts = [];
  let position = aligned(first + 24 * count);
  for (const [start, end] of regions) {
    starts.push(position);
    position = aligned(position + end - start);
  }
  const pooled = index.vectors || [];
  const relocations = signature.relocations || [];
  const vectorStarts = new Map();  // pooled vectors the signature uses, its elements 16-aligned
  for (const vector of [...new Set(relocations.map(([, v]) => v))].sort((a, b) => a - b)) {
    vectorStarts.set(vector, aligned(position + 4) - 4);
    position = vectorStarts.get(vector) + pooled[vector][1];
  }
  position = aligned(position);
  const sizes = [...used.map((buffer) => data[buffer][1]), ...made.map(madeSize)];
  const dataStarts = sizes.map((size) => {
    const at = position;
    position = aligned(position + size);
    return at;
  });
  /** Where an object at `at` of the shared file lands in the cut-out. */
  const place = (at, region) => starts[region] + at - regions[region][0];

  const out = new Uint8Array(position);
  const view = new DataView(out.buffer);
  view.setUint32(0, table, true);
  out.set(new TextEncoder().encode('TFL3'), 4);
  MODEL_VTABLE.forEach((value, i) => view.setUint16(8 + 2 * i, value, true));
  view.setUint32(table, table - 8, true);
  view.setUint32(table + 4, MODEL_VERSION, true);
  const targets = new Array(data.length + made.length).fill(empty);
  used.forEach((buffer, i) => { targets[buffer] = first + 24 * i; });
  made.forEach((_, i) => { targets[data.length + i] = first + 24 * (used.length + i); });
  const fields = [codes.map((t) => place(t, 0)), [place(signature.subgraph, 2)], targets,
                  metadata.map((t) => place(t, 1)), [place(signature.signature_def[2], 3)]];
  fields.forEach((objects, field) => {
    const slot = table + 8 + 4 * field;
    view.setUint32(slot, vectors - slot, true);
    view.setUint32(vectors, objects.length, true);
    objects.forEach((object, i) => {
      const at = vectors + 4 + 4 * i;
      view.setUint32(at, object - at, true);
    });
    vectors += 4 + 4 * objects.length;
  });
  EMPTY_BUFFER_VTABLE.forEach((value, i) => view.setUint16(buffers + 2 * i, value, true));
  view.setInt32(empty, empty - buffers, true);
  BUFFER_VTABLE.forEach((value, i) => view.setUint16(empty + 4 + 2 * i, value, true));
  for (let i = 0; i < count; i++) {
    const at = first + 24 * i;  // soffset (+ padding), offset, size
    view.setInt32(at, at - (empty + 4), true);
    view.setBigUint64(at + 8, BigInt(dataStarts[i]), true);
    view.setBigUint64(at + 16, BigInt(sizes[i]), true);
  }
  regions.forEach(([start, end], r) => out.set(bytes.subarray(start, end), starts[r]));
  for (const [slot, vector] of relocations) {  // its quantization fields point at the copies
    view.setUint32(place(slot, 2), vectorStarts.get(vector) - place(slot, 2), true);
  }
  vectorStarts.forEach((at, vector) => {
    const [start, size] = pooled[vector];
    out.set(bytes.subarray(start, start + size), at);
  });
  if (signature.signature_def[3]) {  // its subgraph index field: the cut-out has subgraph 0
    view.setUint32(starts[3] + signature.signature_def[3] - regions[3][0], 0, true);
  }
  used.forEach((buffer, i) => {
    const [start, size] = data[buffer];
    out.set(bytes.subarray(start, start + size), dataStarts[i]);
  });
  made.forEach((recipe, i) => out.set(make(bytes, data, recipe), dataStarts[used.length + i]));
  return out;
}

/** `count` values of a typed array type at byte `start` of `bytes` (a copy if unaligned). */
function valuesAt(bytes, start, count, Type) {
  const at = bytes.byteOffset + start;
  if (at % Type.BYTES_PER_ELEMENT === 0) return new Type(bytes.buffer, at, count);
  return new Type(bytes.slice(start, start + count * Type.BYTES_PER_ELEMENT).buffer);
}

/**
 * A made buffer's bytes: its blocks side by side along the last axis, every outer row
 * (scale axis 0) or every last-axis channel (axis -1, a depthwise kernel) times its scale.
 * float16 weights are scaled in float32 and rounded to float16 (nearest even).
 */
function make(bytes, data, recipe) {
  const {shape} = recipe;
  const half = recipe.type === 'float16';
  if (!WEIGHT_BYTES[recipe.type]) throw new Error(`a recipe makes ${recipe.type} weights`);
  const width = shape.at(-1);
  const rows = product(shape.slice(0, -1));
  const rowsPerOuter = rows / shape[0];
  const read = (buffer, count, type) => {
    const [start, size] = data[buffer];
    if (size !== count * WEIGHT_BYTES[type]) {
      throw new Error(`buffer ${buffer} has ${size} bytes; a recipe reads ` +
                      `${count * WEIGHT_BYTES[type]}`);
    }
    return type === 'float16' ? valuesAt(bytes, start, count, Uint16Array)
        : valuesAt(bytes, start, count, Float32Array);
  };
  if (recipe.blocks.reduce((sum, [, blockWidth]) => sum + blockWidth, 0) !== width) {
    throw new Error(`a recipe's blocks do not add up to its shape [${shape}]`);
  }
  let scale = null;
  let channelScale = false;
  if (recipe.scale) {
    const [buffer, kind, axis = 0] = recipe.scale;  // index version 3 scales outer rows only
    if (axis !== 0 && axis !== -1) {
      throw new Error(`a recipe scales axis ${axis}; this demo scales axes 0 and -1`);
    }
    channelScale = axis === -1;
    const stored = read(buffer, channelScale ? width : shape[0], kind);
    scale = kind === 'float16' ? Float32Array.from(stored, halfToFloat) : stored;
  }
  const out = half ? new Uint16Array(rows * width) : new Float32Array(rows * width);
  let column = 0;
  for (const [buffer, blockWidth] of recipe.blocks) {
    const block = read(buffer, rows * blockWidth, recipe.type);
    for (let r = 0; r < rows; r++) {
      const from = r * blockWidth;
      const to = r * width + column;
      if (scale === null) {
        out.set(block.subarray(from, from + blockWidth), to);
        continue;
      }
      for (let c = 0; c < blockWidth; c++) {
        const factor = channelScale ? scale[column + c] : scale[Math.floor(r / rowsPerOuter)];
        out[to + c] = half ? floatToHalf(Math.fround(halfToFloat(block[from + c]) * factor))
            : block[from + c] * factor;  // a float32 product: exact in doubles, rounded once
      }
    }
    column += blockWidth;
  }
  return new Uint8Array(out.buffer);
}

const floatBits = new Float32Array(1);
const intBits = new Uint32Array(floatBits.buffer);

/** An IEEE half-precision value (its bits) as a number; exact. */
export function halfToFloat(bits) {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/**
 * A float32 value rounded to the nearest half-precision value (ties to even), as numpy's
 * astype(float16) does; its bits. Node 20 has no Math.f16round: the Java core's steps.
 */
export function floatToHalf(value) {
  floatBits[0] = value;
  const bits = intBits[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 112;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff - 112) {  // infinity or NaN
    return sign | 0x7c00 | (mantissa === 0 ? 0 : Math.max(1, mantissa >>> 13));
  }
  if (exponent >= 0x1f) return sign | 0x7c00;
  if (exponent < -10) return sign;
  let shift = 13;
  let result = (Math.max(exponent, 0) << 10) | (mantissa >>> 13);
  if (exponent <= 0) {  // a subnormal half: the implicit bit joins the mantissa
    mantissa |= 0x800000;
    shift = 14 - exponent;
    result = mantissa >>> shift;
  }
  const rest = mantissa & ((1 << shift) - 1);
  const halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && (result & 1) !== 0)) {
    result += 1;  // a carry into the exponent is the right rounding, up to infinity
  }
  return sign | result;
}
