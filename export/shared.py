"""The shared layout: one .tflite in which every (task, level) is a signature and every weight is stored once.

Every (task, level) is rebuilt on the DVN's unit blocks (export/unit_graph.py),
checked against its plain model, and all of them go into one SavedModel as
signatures (a tf.Module that holds each variable once; Keras's ExportArchive
gives the same file but took twice as long, saving every layer's object graph),
converted with `TFLiteConverter.from_saved_model`. The converter stores a constant that
several signatures use once, so each block's bytes appear once in the file.
The file is then rewritten in the cut-out layout (export/relayout.py), from
which the runtimes cut out the one level they serve (dvn_runtime/cutout.py).

Modes: none, float16, dynamic and int8 (calibrated per signature on its task's
training images). int8-qat fine-tunes each level apart, so its levels would
share nothing; it is per-level only.
"""

import os
import tempfile

import numpy as np
import tensorflow as tf

from export import convert, verify
from export.manifest import SHARED_QUANTIZE_MODES as MODES
from export.relayout import relayout
from export.unit_graph import UnitGraph

SHARED_FILE = "shared.tflite"
# Largest whole-file signature's logit error against its cut-out, relative to the largest logit:
# a cut-out's float weights have batch norm folded in, so they are rounded once more. A graph with
# int8 weights is cut out unfolded (a dynamic-range level small enough to stay float is folded).
SIGNATURE_TOLERANCE = {"none": verify.MAX_RELATIVE_LOGIT_ERROR, "float16": 1e-2,
                       "dynamic": verify.MAX_RELATIVE_LOGIT_ERROR}


def signature_key(task_name, level):
    """The signature of a (task, level) in the shared file (the per-level file's name stem)."""
    return f"{task_name}_level{level}"


def _signature(model, shape, batch):
    """The model's inference as a concrete function of a [batch, *shape] float32 "image"."""
    spec = tf.TensorSpec((batch, *shape), tf.float32, name="image")
    function = tf.function(lambda image: {"logits": model(image, training=False)},
                           input_signature=[spec])
    return function.get_concrete_function()


def level_models(dvn, tasks, probes):
    """{signature key: (task index, level, model on unit blocks)}, each checked against to_plain.

    `probes` holds a few held-out images per task.
    """
    graph = UnitGraph(dvn)
    models = {}
    for t, task in enumerate(tasks):
        for level in dvn.levels:
            plain = dvn.to_plain(t, level)
            model = graph.level_model(plain, t, level)
            verify.check_parity(f"{task.name} level {level} (unit blocks)",
                                verify.keras_logits(plain, probes[t]),
                                verify.keras_logits(model, probes[t]))
            models[signature_key(task.name, level)] = (t, level, model)
    return models


def to_shared_tflite(models, tasks, mode="none", calibration=None, batch=1):
    """The shared .tflite (bytes, cut-out layout) of level_models' result.

    `calibration` (int8) gives each task's training images, in task order.
    """
    if mode not in MODES:
        raise ValueError(f"the shared layout supports quantize modes {', '.join(MODES)}, "
                         f"not {mode!r}")
    module = tf.Module()
    variables = {id(v): v for _, _, model in models.values() for v in model.variables}
    module.variables_to_save = [v.value for v in variables.values()]
    signatures = {key: _signature(model, tasks[t].input_shape, batch)
                  for key, (t, _, model) in models.items()}
    by_signature = None
    if mode in convert.INTEGER_MODES:
        by_signature = {key: calibration[t] for key, (t, _, _) in models.items()}
    with tempfile.TemporaryDirectory() as directory, convert.quiet():
        saved = os.path.join(directory, "saved_model")
        tf.saved_model.save(module, saved, signatures=signatures)
        converter = tf.lite.TFLiteConverter.from_saved_model(saved, signature_keys=list(models))
        content = convert.make_converter(converter, mode, by_signature, batch).convert()
    return relayout(content)


def check_signatures(content, expected, images, mode):
    """Raise ParityError unless each whole-file signature gives about `expected[key]` on `images`.

    `images` holds one batch per key ({key: [B, H, W, C]}); LiteRT.js runs the
    whole file's signatures, the other runtimes its cut-outs, which fold batch
    norm into float weights (export/served.py): the logits may differ by
    SIGNATURE_TOLERANCE[mode] of their largest magnitude; int8 ones not at all.
    """
    interpreter = verify.Interpreter(model_content=content, num_threads=1)
    for key, reference in expected.items():
        runner = interpreter.get_signature_runner(key)
        details = runner.get_input_details()["image"]
        outputs = runner(image=verify.quantize_input(images[key], details))
        output_details = next(iter(runner.get_output_details().values()))
        logits = verify.dequantize_output(next(iter(outputs.values())), output_details)
        error = np.max(np.abs(logits - reference))
        if error > SIGNATURE_TOLERANCE.get(mode, 0.0) * np.max(np.abs(reference)):
            raise verify.ParityError(f"signature {key} of the whole shared file differs from "
                                     f"its cut-out by {error:.2e}")


def write_unmeasured_export(directory, models, tasks, content, scenario, mode="none"):
    """Write a shared file and its manifest.json into `directory`, with no measurements.

    `content` is to_shared_tflite's file of level_models' `models`. Each model
    entry has its cut-out's sha256 and bytes, as `python -m export
    --layout=shared` writes them, and zero FLOPs, accuracy, latency and memory:
    for the clients' tests and benchmarks on DVNs with random weights, which
    check cut-outs and time levels. `tasks` need name, num_classes, labels,
    input_shape, mean and std.
    """
    import hashlib

    from dvn_runtime.cutout import SharedFile
    from export import manifest

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, SHARED_FILE)
    with open(path, "wb") as file:
        file.write(content)
    entries = []
    with SharedFile(path) as source:
        for key, (t, level, model) in models.items():
            cutout = source.cutout(key)
            entries.append({"task": tasks[t].name, "level": level, "file": SHARED_FILE,
                            "signature": key, "sha256": hashlib.sha256(cutout).hexdigest(),
                            "bytes": len(cutout), "params": int(model.count_params()),
                            "flops": 0, "quantize": mode, "accuracy_keras": 0.0,
                            "accuracy_tflite": 0.0, "latency_ms": 0.0, "arena_bytes": 0})
    files = [{"file": SHARED_FILE, "bytes": len(content),
              "sha256": hashlib.sha256(content).hexdigest()}]
    document = manifest.build_manifest(scenario, tasks, entries, 1, files)
    manifest.write_json(os.path.join(directory, manifest.MANIFEST), document)
