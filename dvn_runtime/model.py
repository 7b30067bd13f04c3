"""Loads one verified ``.tflite`` file into a LiteRT interpreter and runs it."""

import hashlib
import os
import threading

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from dvn_runtime.preprocess import to_input_tensor


class ModelLoadError(RuntimeError):
    """A model file is missing, corrupt, or does not match its manifest entry."""


def default_num_threads():
    """Threads per interpreter: the CPU count, at most 4."""
    return min(4, os.cpu_count() or 1)


class LoadedModel:
    """A ready LiteRT interpreter (XNNPACK CPU delegate) for one (task, level).

    ``predict`` may be called from several threads: invokes are serialized by
    a per-interpreter lock. ``close`` waits until every caller that ``retain``ed
    the model has called ``release``, then frees the interpreter.
    ``input_details`` / ``output_details`` are LiteRT's tensor details (dtype,
    shape, quantization).
    """

    def __init__(self, info, task, interpreter):
        self.info = info
        self.task = task
        self._interpreter = interpreter
        self.input_details = interpreter.get_input_details()[0]
        self.output_details = interpreter.get_output_details()[0]
        self._invoke_lock = threading.Lock()
        self._users = 0
        self._idle = threading.Condition()

    @property
    def level(self):
        return self.info.level

    def retain(self):
        """Marks one request in flight; pair with ``release``."""
        with self._idle:
            if self._interpreter is None:
                raise RuntimeError(f"level {self.level} model is closed")
            self._users += 1

    def release(self):
        """Ends one request started with ``retain``."""
        with self._idle:
            self._users -= 1
            self._idle.notify_all()

    def logits(self, batch):
        """Preprocessed float batch [1, H, W, C] -> float32 logits, shape [num_classes].

        Integer models get the input quantized and the output dequantized with
        their tensors' scale and zero point.
        """
        tensor = to_input_tensor(batch, self.input_details)
        with self._invoke_lock:
            self._interpreter.set_tensor(self.input_details["index"], tensor)
            self._interpreter.invoke()
            raw = self._interpreter.get_tensor(self.output_details["index"])
        return _dequantize(raw, self.output_details)[0]

    def predict(self, batch):
        """Preprocessed float batch [1, H, W, C] -> class probabilities, shape [num_classes]."""
        return _as_probabilities(self.logits(batch))

    def close(self):
        """Waits for requests in flight, then frees the interpreter."""
        with self._idle:
            self._idle.wait_for(lambda: self._users == 0)
            self._interpreter = None


def load_model(manifest, info, num_threads=None):
    """Reads, verifies (size, sha256, shapes), builds and warms up one model.

    Raises ModelLoadError with the reason when the file is unreadable, differs
    from the manifest, or LiteRT refuses it.
    """
    path = manifest.path(info)
    try:
        with open(path, "rb") as f:
            content = f.read()
    except OSError as e:
        raise ModelLoadError(f"cannot read {path}: {e.strerror or e}") from None
    digest = hashlib.sha256(content).hexdigest()
    if len(content) != info.bytes or digest != info.sha256:
        raise ModelLoadError(
            f"{path} does not match the manifest ({len(content)} bytes, sha256 "
            f"{digest[:12]}..., expected {info.bytes} bytes, sha256 {info.sha256[:12]}...): "
            "the file is corrupt or from another export; copy the export again")
    task = manifest.task(info.task)
    try:
        interpreter = Interpreter(model_content=content,
                                  num_threads=num_threads or default_num_threads())
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as e:
        raise ModelLoadError(f"LiteRT cannot load {path}: {e}") from None
    _check_shapes(interpreter, task, path)
    model = LoadedModel(info, task, interpreter)
    model.predict(np.zeros(task.input.shape, np.float32))  # warm-up
    return model


def _check_shapes(interpreter, task, path):
    input_shape = tuple(interpreter.get_input_details()[0]["shape"])
    output_shape = tuple(interpreter.get_output_details()[0]["shape"])
    if input_shape != task.input.shape or output_shape != (1, task.num_classes):
        raise ModelLoadError(
            f"{path} takes {list(input_shape)} and gives {list(output_shape)}, but the manifest "
            f"says task {task.name!r} takes {list(task.input.shape)} and has "
            f"{task.num_classes} classes")


def _dequantize(values, details):
    if np.dtype(details["dtype"]) in (np.int8, np.uint8):
        scale, zero_point = details["quantization"]
        return (values.astype(np.float32) - zero_point) * scale
    return values.astype(np.float32)


def _as_probabilities(scores):
    """Softmax of logits; outputs that already are a distribution pass through."""
    if scores.min() >= 0 and abs(float(scores.sum()) - 1.0) < 1e-3:
        return scores
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()
