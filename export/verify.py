"""Run Keras and LiteRT models on held-out images; accuracy, the float32 parity check, shapes.

LiteRT runs through `ai_edge_litert.interpreter.Interpreter`. Integer models
take int8 input: the float images are quantized with the input tensor's
(scale, zero_point), and int8 logits dequantized with the output tensor's.
"""

import numpy as np
from ai_edge_litert.interpreter import Interpreter

# The float32 parity thresholds (DESIGN.md): export fails above either.
MAX_TOP1_DISAGREEMENT = 0.005  # share of held-out images whose top-1 class differs
MAX_RELATIVE_LOGIT_ERROR = 1e-4  # max |tflite - keras| / max |keras logit|

BATCH = 64


class ParityError(RuntimeError):
    """An exported model does not compute what its Keras model computes, or has other shapes."""


def held_out(task):
    """(images [N, H, W, C] float32, labels [N] int) of a task's test split."""
    images, labels = [], []
    for image, label in task.test.as_numpy_iterator():
        images.append(image)
        labels.append(label)
    return np.stack(images).astype(np.float32), np.asarray(labels)


def keras_logits(model, images, batch=BATCH):
    """Logits of a Keras model (Keras 3 or tf_keras) on `images`, in inference mode."""
    out = [np.asarray(model(images[i:i + batch], training=False))
           for i in range(0, len(images), batch)]
    return np.concatenate(out).astype(np.float32)


def quantize_input(images, details):
    """Float images as the interpreter's input dtype (int8/uint8: with its scale and zero point)."""
    dtype = np.dtype(details["dtype"])
    if dtype in (np.int8, np.uint8):
        scale, zero_point = details["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(images / scale) + zero_point, info.min, info.max).astype(dtype)
    return images.astype(dtype)


def dequantize_output(values, details):
    """Interpreter output as float32 (int8/uint8: with its scale and zero point)."""
    if np.dtype(details["dtype"]) in (np.int8, np.uint8):
        scale, zero_point = details["quantization"]
        return (values.astype(np.float32) - zero_point) * scale
    return values.astype(np.float32)


def tflite_logits(content, images, num_threads=1):
    """Float logits of a .tflite model (bytes) on `images`.

    Each invoke takes the file's own fixed batch of images; the last one is
    padded with zeros, whose logits are dropped.
    """
    interpreter = Interpreter(model_content=content, num_threads=num_threads)
    interpreter.allocate_tensors()
    input_details = interpreter.get_input_details()[0]
    output_details = interpreter.get_output_details()[0]
    batch = int(input_details["shape"][0])
    padded = np.zeros((-(-len(images) // batch) * batch, *images.shape[1:]), np.float32)
    padded[:len(images)] = images
    out = []
    for start in range(0, len(padded), batch):
        interpreter.set_tensor(input_details["index"],
                               quantize_input(padded[start:start + batch], input_details))
        interpreter.invoke()
        out.append(dequantize_output(interpreter.get_tensor(output_details["index"]),
                                     output_details))
    return np.concatenate(out)[:len(images)]


def input_signature(content):
    """The input `shape_signature` of a .tflite model (bytes): -1 marks a dynamic dimension."""
    interpreter = Interpreter(model_content=content)
    return [int(d) for d in interpreter.get_input_details()[0]["shape_signature"]]


def check_input_signature(name, content, shape):
    """Raise ParityError unless the file's input `shape_signature` is `shape` (the manifest's)."""
    signature = input_signature(content)
    if signature != list(shape):
        raise ParityError(f"{name}: the file's input shape_signature is {signature}, the "
                          f"manifest says {list(shape)}; every dimension must be fixed")
    return signature


def accuracy(logits, labels):
    """Top-1 accuracy of logits [N, classes] against class ids [N]."""
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def compare(reference, candidate):
    """(share of rows whose top-1 differs, max |difference| / max |reference|)."""
    disagreement = float(np.mean(np.argmax(reference, -1) != np.argmax(candidate, -1)))
    scale = max(float(np.max(np.abs(reference))), 1e-12)
    relative = float(np.max(np.abs(reference - candidate))) / scale
    return disagreement, relative


def check_parity(name, reference, candidate):
    """Raise ParityError (one line naming the model) when candidate logits stray from reference.

    The limits are MAX_TOP1_DISAGREEMENT and MAX_RELATIVE_LOGIT_ERROR.
    Returns (disagreement, relative error) when within them.
    """
    if reference.shape != candidate.shape:
        raise ParityError(f"{name}: logits of shape {candidate.shape}, Keras gives "
                          f"{reference.shape}")
    disagreement, relative = compare(reference, candidate)
    if not np.all(np.isfinite(candidate)):
        raise ParityError(f"{name}: the exported model gives non-finite logits")
    if disagreement > MAX_TOP1_DISAGREEMENT:
        raise ParityError(
            f"{name}: top-1 differs from Keras on {disagreement:.2%} of held-out images "
            f"(limit {MAX_TOP1_DISAGREEMENT:.2%})")
    if relative > MAX_RELATIVE_LOGIT_ERROR:
        raise ParityError(
            f"{name}: logits differ from Keras by {relative:.2e} of the largest logit "
            f"(limit {MAX_RELATIVE_LOGIT_ERROR:.0e})")
    return disagreement, relative
