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

The representative dataset of `int8` is drawn from the task's training split.
"""

import contextlib
import os
import sys

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


def representative_dataset(images):
    """The converter's representative dataset: one [1, H, W, C] sample per step."""
    def generate():
        for image in images:
            yield [image[None].astype(np.float32)]
    return generate


def make_converter(converter, mode, calibration=None):
    """Configure a TFLiteConverter for `mode`: builtin ops only (no Flex / SELECT_TF_OPS).

    `calibration` (images [N, H, W, C]) is required for the integer modes. A
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
        converter.representative_dataset = representative_dataset(calibration)
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


def to_tflite(model, mode="none", calibration=None):
    """The .tflite flatbuffer (bytes) of a plain Keras 3 functional model."""
    with quiet():
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        return make_converter(converter, mode, calibration).convert()
