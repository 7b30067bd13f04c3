"""Export a training run: every (task, level) as a checked, measured .tflite, plus manifest.json.

For each (task, level): `DVNModel.to_plain` materializes a plain Keras model
of that level's weights (checked against the DVN itself on held-out images),
export/convert.py (or export/qat.py for int8-qat) turns it into a .tflite,
export/verify.py runs it through LiteRT on the task's test split (float32
models must match Keras: export/verify.py's limits; that run gives the
manifest's accuracy_tflite and per_class_recall), and export/measure.py
measures latency and memory cost in a fresh process.

With `layout="shared"` the models come from one file instead (export/shared.py):
every (task, level) is a signature of SHARED_FILE and is checked and measured
as the runtime serves it, from its cut-out (dvn_runtime/cutout.py); the
manifest's entry names the file and the signature, with the cut-out's sha256
and bytes.

Files are built in a private staging directory inside the output directory
and moved into place with os.replace only when every model has passed, the
manifest last; a failed export leaves the previous export untouched.
"""

import hashlib
import os
import shutil
import tempfile
import time

import numpy as np

from dvn_runtime.cutout import SharedFile
from dvn_runtime.per_class import confusion_matrix, recall
from export import convert, manifest, measure, samples, shared, verify
from export.loading import load_run
from export.manifest import LAYOUTS, check_output_dir
from export.qat import model_file


def _megabytes(count):
    return f"{count / 2 ** 20:.1f} MiB"


def export_run(workdir, quantize="none", out=None, threads=1, runs=50,
               qat_epochs=None, qat_learning_rate=None, seed=0, batch=1, layout="per-level",
               log=print):
    """Export the run in workdir into `out` (default workdir/tflite); returns the manifest.

    Every file takes a fixed batch of `batch` images (no dynamic dimension).
    `layout` is "per-level" (a file per (task, level)) or "shared".
    """
    convert.check_mode(quantize)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose one of: {', '.join(LAYOUTS)}")
    if layout == "shared" and quantize not in shared.MODES:
        raise ValueError(f"--layout=shared supports --quantize={', '.join(shared.MODES)}; "
                         f"{quantize} fine-tunes every level apart, so its levels share no weights")
    out = out or os.path.join(workdir, "tflite")
    check_output_dir(out)
    staging = tempfile.mkdtemp(dir=out, prefix=".staging-")
    try:
        document = _export_into(workdir, quantize, out, staging, threads, runs,
                                qat_epochs, qat_learning_rate, seed, batch, layout, log)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return document


def _export_into(workdir, quantize, out, staging, threads, runs, qat_epochs,
                 qat_learning_rate, seed, batch, layout, log):
    qat_results = {}
    if quantize == "int8-qat":
        from export import qat
        log("int8-qat: quantization-aware fine-tuning of every (task, level) in a child process")
        qat_results = qat.run_child(workdir, staging,
                                    qat.DEFAULT_EPOCHS if qat_epochs is None else qat_epochs,
                                    qat_learning_rate, seed, batch)
    config, dvn, tasks = load_run(workdir)
    total = len(tasks) * len(dvn.levels)
    log(f"Exporting {total} models of {workdir} ({config.scenario}, {config.backbone}, "
        f"k={dvn.plan.units}) with quantize={quantize}, batch {batch}, layout {layout} into {out}")
    from dvn_tf.counting import count_flops

    held_out = [verify.held_out(task) for task in tasks]
    calibrations = ([convert.training_images(task, seed=seed) for task in tasks]
                    if quantize in convert.INTEGER_MODES else None)
    shared_path = os.path.join(staging, shared.SHARED_FILE)
    if layout == "shared":
        _write_shared(dvn, tasks, held_out, quantize, calibrations, batch, shared_path, log)
    source = SharedFile(shared_path) if layout == "shared" else None
    entries, signature_probes = [], {}
    try:
        for t, task in enumerate(tasks):
            images, labels = held_out[t]
            for level in dvn.levels:
                started = time.perf_counter()
                name = f"{task.name} level {level}"
                plain = dvn.to_plain(t, level)
                probe = images[:verify.BATCH]
                verify.check_parity(f"{name} (to_plain)",
                                    np.asarray(dvn(probe, task=t, level=level)),
                                    verify.keras_logits(plain, probe))
                keras_logits = verify.keras_logits(plain, images)
                accuracy_keras = verify.accuracy(keras_logits, labels)
                file = model_file(task.name, level)
                path = os.path.join(staging, file)
                if source is not None:
                    content = source.cutout(shared.signature_key(task.name, level))
                elif quantize == "int8-qat":
                    with open(path, "rb") as handle:
                        content = handle.read()
                    accuracy_keras = qat_results[file]["accuracy_keras"]
                else:
                    content = convert.to_tflite(plain, quantize,
                                                calibrations and calibrations[t], batch)
                if quantize != "int8-qat":
                    with open(path, "wb") as handle:
                        handle.write(content)
                verify.check_input_signature(name, content,
                                             manifest.input_spec(task, batch)["shape"])
                tflite_logits = verify.tflite_logits(content, images)
                disagreement, relative = verify.compare(keras_logits, tflite_logits)
                if quantize in convert.FLOAT_MODES:
                    verify.check_parity(name, keras_logits, tflite_logits)
                cost = measure.measure_file(path, threads=threads, runs=runs)
                entry = {
                    "task": task.name, "level": level, "file": file,
                    "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content),
                    "params": int(plain.count_params()), "flops": count_flops(plain),
                    "quantize": quantize, "accuracy_keras": round(accuracy_keras, 6),
                    "accuracy_tflite": round(verify.accuracy(tflite_logits, labels), 6),
                    "per_class_recall": recall(confusion_matrix(
                        labels, np.argmax(tflite_logits, axis=-1), task.num_classes)),
                    "latency_ms": float(f"{cost['latency_ms']:.4g}"),
                    "arena_bytes": int(cost["arena_bytes"])}
                if source is not None:
                    key = shared.signature_key(task.name, level)
                    entry.update(file=shared.SHARED_FILE, signature=key)
                    first = np.resize(images, (batch, *images.shape[1:]))
                    signature_probes[key] = (first, verify.tflite_logits(content, first))
                    os.remove(path)
                entries.append(entry)
                log(f"[{len(entries)}/{total}] {name}: {entry['file']}"
                    f"{' ' + entry['signature'] if 'signature' in entry else ''} "
                    f"{entry['bytes']:,} bytes, "
                    f"{entry['params']:,} params, {entry['flops']:,} FLOPs; accuracy Keras "
                    f"{entry['accuracy_keras']:.4f} LiteRT {entry['accuracy_tflite']:.4f} "
                    f"(vs float Keras: top-1 differs on {disagreement:.2%}, max logit error "
                    f"{relative:.1e}); "
                    f"{entry['latency_ms']:.3f} ms; memory {_megabytes(entry['arena_bytes'])} "
                    f"(arena >= {cost['arena_floor']:,} bytes); "
                    f"{time.perf_counter() - started:.1f} s")
    finally:
        if source is not None:
            source.close()
    files = [entry["file"] for entry in entries]
    shared_files = None
    if layout == "shared":
        with open(shared_path, "rb") as handle:
            content = handle.read()
        shared.check_signatures(content, {k: v[1] for k, v in signature_probes.items()},
                                {k: v[0] for k, v in signature_probes.items()}, quantize)
        shared_files = [{"file": shared.SHARED_FILE, "bytes": len(content),
                         "sha256": hashlib.sha256(content).hexdigest()}]
        files = [shared.SHARED_FILE]
    document = manifest.build_manifest(config.scenario, tasks, entries, batch, shared_files)
    samples.write_samples(tasks, held_out, os.path.join(staging, samples.SAMPLES))
    shutil.rmtree(os.path.join(out, samples.SAMPLES), ignore_errors=True)
    os.replace(os.path.join(staging, samples.SAMPLES), os.path.join(out, samples.SAMPLES))
    for file in files:
        os.replace(os.path.join(staging, file), os.path.join(out, file))
    manifest.write_json(os.path.join(out, manifest.MANIFEST), document)
    log(f"Wrote {os.path.join(out, manifest.MANIFEST)}, {len(entries)} models "
        f"{'as signatures of ' + shared.SHARED_FILE + ' ' if layout == 'shared' else ''}"
        f"and sample images in {os.path.join(out, samples.SAMPLES)}")
    return document


def _write_shared(dvn, tasks, held_out, quantize, calibrations, batch, path, log):
    """Build, convert and write the shared file of every (task, level)."""
    started = time.perf_counter()
    models = shared.level_models(dvn, tasks, [images[:verify.BATCH] for images, _ in held_out])
    log(f"Built {len(models)} (task, level) models on shared unit blocks; converting them "
        f"into one file")
    content = shared.to_shared_tflite(models, tasks, quantize, calibrations, batch)
    with open(path, "wb") as handle:
        handle.write(content)
    log(f"{shared.SHARED_FILE}: {len(content):,} bytes, {len(models)} signatures "
        f"({time.perf_counter() - started:.1f} s)")
