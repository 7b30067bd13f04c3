"""Exported files have a fixed batch (no -1 in any shape signature); old dynamic files still run."""

import hashlib
import json
import shutil

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from export import convert, verify
from test_export_helpers import random_images, small_dvn


def signatures(content):
    """(input shape_signature, output shape_signature) of a .tflite model (bytes)."""
    interpreter = Interpreter(model_content=content)
    return ([int(d) for d in interpreter.get_input_details()[0]["shape_signature"]],
            [int(d) for d in interpreter.get_output_details()[0]["shape_signature"]])


def dynamic_batch_tflite(model):
    """The .tflite of a plain Keras model converted as the exporter did before batches were fixed."""
    import tensorflow as tf

    with convert.quiet():
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


@pytest.mark.parametrize("mode, batch", [("none", 3), ("int8", 3)])
def test_every_dimension_is_fixed_and_the_weights_are_kept(mode, batch):
    dvn = small_dvn("resnet-8", "cyclic")
    plain = dvn.to_plain(1, 2)
    images = random_images(dvn.input_shapes[1], count=7)  # 7 images: the last invoke is padded
    content = convert.to_tflite(plain, mode, calibration=images, batch=batch)
    assert signatures(content) == ([batch, 8, 8, 3], [batch, plain.output_shape[-1]])
    logits = verify.tflite_logits(content, images)
    if mode == "none":
        verify.check_parity("t1 level 2", verify.keras_logits(plain, images), logits)
    else:
        assert logits.shape == (7, plain.output_shape[-1]) and np.all(np.isfinite(logits))


def test_the_signature_check_refuses_a_dynamic_batch():
    plain = small_dvn("resnet-8", "cyclic").to_plain(0, 1)
    dynamic = dynamic_batch_tflite(plain)
    assert signatures(dynamic)[0] == [-1, 8, 8, 3]
    with pytest.raises(verify.ParityError,
                       match=r"t0 level 1: the file's input shape_signature is \[-1, 8, 8, 3\], "
                             r"the manifest says \[1, 8, 8, 3\]"):
        verify.check_input_signature("t0 level 1", dynamic, [1, 8, 8, 3])
    static = convert.to_tflite(plain)
    assert verify.check_input_signature("t0 level 1", static, [1, 8, 8, 3]) == [1, 8, 8, 3]
    with pytest.raises(verify.ParityError, match=r"is \[1, 8, 8, 3\], the manifest says \[2,"):
        verify.check_input_signature("t0 level 1", static, [2, 8, 8, 3])


def test_batch_option_fixes_every_file_and_the_manifest_records_it(digits_run, tmp_path):
    from export.exporter import export_run

    out = tmp_path / "batch2"
    document = export_run(str(digits_run), out=str(out), runs=1, batch=2, log=lambda line: None)
    assert document["input"]["shape"] == [2, 8, 8, 1]
    for model in document["models"]:
        content = (out / model["file"]).read_bytes()
        assert signatures(content) == ([2, 8, 8, 1], [2, 5])
        assert model["accuracy_tflite"] == pytest.approx(model["accuracy_keras"], abs=0.005)


def test_an_old_export_with_dynamic_batch_files_still_runs_in_the_runtime(digits_run,
                                                                          digits_export, tmp_path):
    """Files converted with a -1 batch, as exports were before, load and classify as before."""
    from dvn_runtime import TaskRuntime, load_manifest
    from export.loading import load_run

    old = tmp_path / "old"
    shutil.copytree(digits_export.tflite, old)
    _, dvn, _ = load_run(str(digits_run))
    manifest = json.loads((old / "manifest.json").read_text())
    for model in manifest["models"]:
        if model["task"] == "low":
            content = dynamic_batch_tflite(dvn.to_plain(0, model["level"]))
            assert signatures(content)[0] == [-1, 8, 8, 1]
            (old / model["file"]).write_bytes(content)
            model.update(bytes=len(content), sha256=hashlib.sha256(content).hexdigest())
    (old / "manifest.json").write_text(json.dumps(manifest))
    samples = sorted((old / "samples" / "low").glob("*.png"))
    answers = {}
    for export_dir in (old, digits_export.tflite):
        with TaskRuntime(load_manifest(export_dir), "low", read_available=lambda: 1 << 40,
                         num_threads=1) as runtime:
            answers[export_dir] = [runtime.classify(str(path)) for path in samples]
    assert [level for _, level in answers[old]] == [2] * len(samples)
    old_labels = [top[0][0] for top, _ in answers[old]]
    assert old_labels == [top[0][0] for top, _ in answers[digits_export.tflite]]
    assert sum(label == path.stem[3:] for label, path in zip(old_labels, samples)) >= 9
