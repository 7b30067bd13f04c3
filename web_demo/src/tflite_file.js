/**
 * Reads what LiteRT.js does not expose from a .tflite flatbuffer: each input and
 * output tensor's shape signature (-1 marks a dynamic dimension), element type,
 * and quantization (scale, zero point), following LiteRT's schema.fbs.
 */

// schema.fbs field numbers.
const MODEL_SUBGRAPHS = 2;
const SUBGRAPH_TENSORS = 0;
const SUBGRAPH_INPUTS = 1;
const SUBGRAPH_OUTPUTS = 2;
const TENSOR_SHAPE = 0;
const TENSOR_TYPE = 1;
const TENSOR_QUANTIZATION = 4;
const TENSOR_SHAPE_SIGNATURE = 7;
const QUANTIZATION_SCALE = 2;
const QUANTIZATION_ZERO_POINT = 3;
// schema.fbs TensorType values -> names.
const TENSOR_TYPES = {0: 'float32', 1: 'float16', 2: 'int32', 3: 'uint8', 9: 'int8'};

/** A minimal flatbuffer table reader over the bytes of one file. */
export class Table {
  constructor(view, position) {
    this.view = view;
    this.position = position;
    this.vtable = position - view.getInt32(position, true);
  }

  static root(bytes) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.byteLength < 8 || String.fromCharCode(...bytes.subarray(4, 8)) !== 'TFL3') {
      throw new Error('not a .tflite file (no TFL3 identifier)');
    }
    return new Table(view, view.getUint32(0, true));
  }

  fieldPosition(field) {
    const entry = 4 + 2 * field;
    if (entry >= this.view.getUint16(this.vtable, true)) return null;
    const offset = this.view.getUint16(this.vtable + entry, true);
    return offset ? this.position + offset : null;
  }

  scalar(field, read, fallback) {
    const position = this.fieldPosition(field);
    return position === null ? fallback : read(this.view, position);
  }

  /** [start, length] of a vector field, or null when absent. */
  vector(field) {
    const position = this.fieldPosition(field);
    if (position === null) return null;
    const start = position + this.view.getUint32(position, true);
    return [start + 4, this.view.getUint32(start, true)];
  }

  numbers(field, read, width) {
    const vector = this.vector(field);
    if (vector === null) return null;
    const [start, length] = vector;
    return Array.from({length}, (_, i) => read(this.view, start + i * width));
  }

  tables(field) {
    const [start, length] = this.vector(field) ?? [0, 0];
    return Array.from({length}, (_, i) => {
      const element = start + 4 * i;
      return new Table(this.view, element + this.view.getUint32(element, true));
    });
  }

  /** A string field decoded as UTF-8, or null when absent. */
  string(field) {
    const position = this.fieldPosition(field);
    if (position === null) return null;
    const start = position + this.view.getUint32(position, true);
    const bytes = new Uint8Array(this.view.buffer, this.view.byteOffset + start + 4,
                                 this.view.getUint32(start, true));
    return new TextDecoder().decode(bytes);
  }

  table(field) {
    const position = this.fieldPosition(field);
    return position === null ? null
        : new Table(this.view, position + this.view.getUint32(position, true));
  }
}

const int32 = (view, at) => view.getInt32(at, true);
const float32 = (view, at) => view.getFloat32(at, true);
const int64 = (view, at) => Number(view.getBigInt64(at, true));
const int8 = (view, at) => view.getInt8(at);

function describeTensor(tensor) {
  const shape = tensor.numbers(TENSOR_SHAPE, int32, 4) ?? [];
  const typeCode = tensor.scalar(TENSOR_TYPE, int8, 0);
  const quantization = tensor.table(TENSOR_QUANTIZATION);
  const scales = quantization?.numbers(QUANTIZATION_SCALE, float32, 4) ?? [];
  const zeroPoints = quantization?.numbers(QUANTIZATION_ZERO_POINT, int64, 8) ?? [];
  return {
    shape,
    shapeSignature: tensor.numbers(TENSOR_SHAPE_SIGNATURE, int32, 4) ?? shape,
    type: TENSOR_TYPES[typeCode] ?? `type ${typeCode}`,
    scale: scales.length ? scales[0] : 0,
    zeroPoint: zeroPoints.length ? zeroPoints[0] : 0,
  };
}

/**
 * The input and output tensors of a .tflite file's first subgraph:
 * {inputs: [...], outputs: [...]}, each {shape, shapeSignature, type, scale, zeroPoint}.
 */
export function readTensors(bytes) {
  const subgraph = Table.root(bytes).tables(MODEL_SUBGRAPHS)[0];
  if (!subgraph) throw new Error('the .tflite file has no subgraph');
  const tensors = subgraph.tables(SUBGRAPH_TENSORS);
  const pick = (field) => (subgraph.numbers(field, int32, 4) ?? []).map(
      (index) => describeTensor(tensors[index]));
  return {inputs: pick(SUBGRAPH_INPUTS), outputs: pick(SUBGRAPH_OUTPUTS)};
}
