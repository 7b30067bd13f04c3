/**
 * Runs .tflite files with LiteRT.js (npm @litertjs/core, pinned in package.json)
 * on its WebAssembly CPU accelerator: threaded on a cross-origin-isolated page,
 * else on one thread.
 *
 * LiteRT.js 2.5.3's Tensor and CompiledModel classes know float32, int32 and
 * uint8 only: compiling a full-integer model throws "Element type INT8 is not
 * supported", and no call gives a tensor's quantization. So this module drives
 * the same wasm bindings that LiteRT.js's own loadAndCompile and run use
 * (`getGlobalLiteRt().liteRtWasm`, typed in its index.d.ts) for every model,
 * and reads types, shapes and quantization from the file (tflite_file.js).
 */
import {getDefaultEnvironment, getGlobalLiteRt, loadLiteRt} from '@litertjs/core';

import {readTensors} from './tflite_file.js';

const ARRAYS = {float32: Float32Array, int8: Int8Array, uint8: Uint8Array};
const INTEGER_RANGES = {int8: [-128, 127], uint8: [0, 255]};

const MAX_THREADS = 4;  // as the Python runtime: a thread per core, at most 4
let threadCount = 1;

/**
 * Loads LiteRT.js's wasm runtime from `wasmDirectory`: its threaded build when the page is
 * cross-origin isolated (threads share memory, which browsers allow only then), models
 * then running on `threads` threads (default: a thread per core, at most 4); else the plain
 * build on one thread. `modelsAlive` is how many compiled models may exist at once. Returns
 * the number of threads every model runs with.
 *
 * The threaded build (emscripten) starts a pool of navigator.hardwareConcurrency workers
 * when it loads, and each compiled model's threads hold threads - 1 of them while it lives.
 * A model compiled when the pool is empty waits for a new worker, which cannot start while
 * the page's thread waits: the page hangs (seen with two MobileNetV2 levels served and a
 * third compiled on 2 cores). So the pool is sized for `modelsAlive` models while it loads.
 */
export async function startLiteRt(wasmDirectory, threads = null, modelsAlive = 1) {
  if (globalThis.crossOriginIsolated !== true) {
    await loadLiteRt(wasmDirectory);
    threadCount = 1;
    return threadCount;
  }
  const cores = navigator.hardwareConcurrency || 1;
  threadCount = threads ?? Math.min(MAX_THREADS, cores);
  Object.defineProperty(navigator, 'hardwareConcurrency', {
    value: Math.max(cores, (threadCount - 1) * modelsAlive), configurable: true});
  try {
    await loadLiteRt(wasmDirectory, {threads: true});
  } finally {
    delete navigator.hardwareConcurrency;  // the browser's own value again
  }
  return threadCount;
}

/** Round half to even, as numpy's np.round (the Python runtime's quantization). */
function roundHalfEven(x) {
  const rounded = Math.round(x);
  return Math.abs(x % 1) === 0.5 && rounded % 2 !== 0 ? rounded - 1 : rounded;
}

/**
 * Float values as the tensor's element type: integer tensors get
 * round(x / scale) + zero_point, clipped, computed in float32 as numpy does.
 */
export function quantize(values, tensor) {
  const range = INTEGER_RANGES[tensor.type];
  if (!range) return Float32Array.from(values);
  const scale = Math.fround(tensor.scale);
  const out = new ARRAYS[tensor.type](values.length);
  for (let i = 0; i < values.length; i++) {
    const q = roundHalfEven(Math.fround(values[i] / scale)) + tensor.zeroPoint;
    out[i] = Math.min(range[1], Math.max(range[0], q));
  }
  return out;
}

/** Tensor values as float32: integer tensors get (q - zero_point) * scale. */
export function dequantize(values, tensor) {
  if (!INTEGER_RANGES[tensor.type]) return Float32Array.from(values);
  const scale = Math.fround(tensor.scale);
  return Float32Array.from(values, (q) => Math.fround(Math.fround(q - tensor.zeroPoint) * scale));
}

function checkStatic(tensor, which) {
  if (tensor.shapeSignature.some((d) => d < 1)) {
    throw new Error(`its ${which} shape signature is [${tensor.shapeSignature}] with a dynamic ` +
                    'dimension, which LiteRT.js cannot run: export again with the current ' +
                    '`python -m export`, which fixes the batch');
  }
  if (!ARRAYS[tensor.type]) throw new Error(`its ${which} is ${tensor.type}; ` +
                                           'this demo runs float32, int8 and uint8 tensors');
}

/**
 * One compiled .tflite file. Its input buffer is made once and reused: `run`
 * calls are queued, so a call may come while another is in flight.
 */
export class CompiledFile {
  /** Copies `bytes` into wasm memory, then loads and compiles them for the CPU. */
  static async compile(bytes) {
    const tensors = readTensors(bytes);
    if (tensors.inputs.length !== 1 || tensors.outputs.length !== 1) {
      throw new Error(`it has ${tensors.inputs.length} inputs and ${tensors.outputs.length} ` +
                      'outputs; a classifier has one of each');
    }
    checkStatic(tensors.inputs[0], 'input');
    checkStatic(tensors.outputs[0], 'output');
    const wasm = getGlobalLiteRt().liteRtWasm;
    const environment = getDefaultEnvironment();
    const pointer = wasm._malloc(bytes.byteLength);
    wasm.HEAPU8.set(bytes, pointer);
    let model = null;
    let compiled = null;
    try {
      model = wasm.loadModel(environment.liteRtEnvironment, pointer, bytes.byteLength);
      compiled = await wasm.compileModel(environment.liteRtEnvironment, model, {
        environment, accelerator: 'wasm', cpuOptions: {numThreads: threadCount}, gpuOptions: {},
        webNNOptions: {}});
      return new CompiledFile(wasm, environment, pointer, model, compiled, tensors, 0);
    } catch (error) {
      compiled?.delete();
      model?.delete();
      wasm._free(pointer);
      throw error;
    }
  }

  /** `signature` indexes the file's signatures (a per-level file has one, 0). */
  constructor(wasm, environment, pointer, model, compiled, tensors, signature) {
    this.wasm = wasm;
    this.pointer = pointer;
    this.model = model;
    this.compiled = compiled;
    this.input = tensors.inputs[0];
    this.output = tensors.outputs[0];
    this.signature = signature;
    const type = model.getInputTensorType(signature, 0);
    this.inputBuffer = wasm.LiteRtTensorBuffer.createManaged(
        environment.liteRtEnvironment, wasm.LiteRtTensorBufferType.HOST_MEMORY, type, type.bytes());
    type.delete();
    this.queue = Promise.resolve();
  }

  /**
   * Float input values (the input tensor's shape, row-major) -> float32 output
   * values. Integer models quantize the input and dequantize the output with
   * their tensors' scale and zero point.
   */
  run(values) {
    const result = this.queue.then(() => this.runNow(values));
    this.queue = result.catch(() => {});
    return result;
  }

  async runNow(values) {
    const count = this.input.shape.reduce((a, b) => a * b, 1);
    if (values.length !== count) {
      throw new Error(`the model takes ${count} input values, got ${values.length}`);
    }
    const {wasm, inputBuffer} = this;
    const data = quantize(values, this.input);
    const at = inputBuffer.lock(wasm.LiteRtTensorBufferLockMode.WRITE);
    new data.constructor(wasm.HEAPU8.buffer, at, data.length).set(data);
    inputBuffer.unlock();
    const outputs = await this.compiled.run(this.signature, [inputBuffer]);
    try {
      const result = outputs[0];
      const size = this.output.shape.reduce((a, b) => a * b, 1);
      const from = result.lock(wasm.LiteRtTensorBufferLockMode.READ);
      const raw = new ARRAYS[this.output.type](wasm.HEAPU8.buffer, from, size).slice();
      result.unlock();
      return dequantize(raw, this.output);
    } finally {
      for (const output of outputs) output.delete();
    }
  }

  /** Frees the compiled model, its input buffer and its copy of the file. */
  delete() {
    this.inputBuffer.delete();
    this.compiled.delete();
    this.model.delete();
    this.wasm._free(this.pointer);
  }
}
