"""Keras model -> .tflite bytes, builtin ops only, in one of the post-training modes.

Modes (`--quantize`):
  none     float32 weights and activations.
  float16  float16 weights, float32 compute and IO.
  dynamic  int8 weights, activations quantized on the fly, float32 IO.
  int8     full integer: int8 weights and activations, int8 input and output.
           The client quantizes its normalized float input with the input
           tensor's (scale, zero_point) and dequantizes the logits with the
           output tensor's; dvn_runtime does exactly that.
  int8-qat the same full-integer int8 model after quantization-aware
           fine-tuning; export/qat.py converts it with the int8 settings here.

Every file has a fixed batch (1 unless `--batch` says otherwise): no dimension of
its input is dynamic, so every LiteRT client runs it, LiteRT.js included (it has no
resize call and refuses a [-1, H, W, C] signature). The representative dataset of
`int8` is drawn from the task's training split.
"""

import contextlib
import os
import sys

import keras
import numpy as np
import tensorflow as tf

from export.manifest import QUANTIZE_MODES as MODES

FLOAT_MODES = ("none",)  # modes whose logits must match Keras (the parity check)
INTEGER_MODES = ("int8", "int8-qat")

CALIBRATION_SAMPLES = 256
SHUFFLE_BUFFER = 4096  # images; the whole split of a small task, a bounded window of a large one


def check_mode(mode):
    """Raise a ValueError naming the modes unless `mode` is one of them."""
    if mode not in MODES:
        raise ValueError(f"unknown quantize mode {mode!r}; choose one of: {', '.join(MODES)}")


def training_images(task, count=CALIBRATION_SAMPLES, seed=0):
    """Up to `count` normalized images [N, H, W, C] float32 from the task's training split.

    Shuffled with a fixed seed (over the whole split of a small task), so a
    calibration set covers every class rather than the first few hundred examples.
    """
    buffer = min(task.train_size, SHUFFLE_BUFFER)
    data = task.train.shuffle(buffer, seed=seed, reshuffle_each_iteration=False)
    images = [image for image, _ in data.take(count).as_numpy_iterator()]
    return np.stack(images).astype(np.float32)


def representative_dataset(images, batch=1):
    """The converter's representative dataset: one [batch, H, W, C] sample per step.

    The images are repeated cyclically to fill the last batch.
    """
    steps = -(-len(images) // batch)
    batches = np.resize(images, (steps * batch, *images.shape[1:])).astype(np.float32)

    def generate():
        for start in range(0, len(batches), batch):
            yield [batches[start:start + batch]]
    return generate


def with_static_batch(model, batch=1, framework=keras):
    """`model` called on an input of fixed batch size `batch`, as a new functional model.

    `framework` is `keras` (Keras 3) or `tf_keras` (the QAT twin). Converted with
    from_keras_model, the wrapper gives a file whose input `shape_signature` is
    [batch, H, W, C] and whose weights are the model's own. Tracing the model as a
    fixed-shape concrete function and converting it with from_concrete_functions
    instead left the weights out (NaN logits).
    """
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an int >= 1, got {batch!r}")
    inputs = framework.Input(tuple(model.input_shape[1:]), batch_size=batch, name="image")
    return framework.Model(inputs, model(inputs), name=model.name)


def make_converter(converter, mode, calibration=None, batch=1):
    """Configure a TFLiteConverter for `mode`: builtin ops only (no Flex / SELECT_TF_OPS).

    `calibration` (images [N, H, W, C]) is required for the integer modes; it is fed
    `batch` images per step, the model's fixed batch. A
    quantization-aware model needs it too in TF 2.21: the converter checks for a
    representative dataset before it looks at the fake-quant nodes; the nodes'
    ranges then take precedence over the calibration.
    """
    check_mode(mode)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode in INTEGER_MODES:
        if calibration is None or not len(calibration):
            raise ValueError(f"quantize mode {mode!r} needs calibration images")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset(calibration, batch)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter


@contextlib.contextmanager
def quiet():
    """Silence stdout and stderr, Python's and the C++ converter's, for the block.

    The converter prints a SavedModel signature and quantizer notes on every
    call; exceptions still propagate with their messages.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        try:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            with contextlib.redirect_stdout(null), contextlib.redirect_stderr(null):
                yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def to_tflite(model, mode="none", calibration=None, batch=1):
    """The .tflite flatbuffer (bytes) of a plain Keras 3 functional model, with a fixed batch."""
    static = with_static_batch(model, batch)
    with quiet():
        converter = tf.lite.TFLiteConverter.from_keras_model(static)
        return make_converter(converter, mode, calibration, batch).convert()
