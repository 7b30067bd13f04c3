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
    """A plain Keras model's .tflite as exports were before the batch was fixed: [-1, H, W, C]."""
    import tensorflow as tf

    with convert.quiet():
        return tf.lite.TFLiteConverter.from_keras_model(model).convert()


@pytest.fixture(scope="module")
def plain():
    """A plain level model of a small random DVN (input 8x8x3)."""
    return small_dvn("resnet-8", "cyclic").to_plain(1, 2)


@pytest.mark.parametrize("mode", ["none", "int8"])
def test_every_dimension_is_fixed_and_the_weights_are_kept(plain, mode):
    images = random_images((8, 8, 3), count=7)  # 7 images at batch 3: the last invoke is padded
    content = convert.to_tflite(plain, mode, calibration=images, batch=3)
    assert signatures(content) == ([3, 8, 8, 3], [3, plain.output_shape[-1]])
    assert verify.check_input_signature("t1 level 2", content, [3, 8, 8, 3]) == [3, 8, 8, 3]
    with pytest.raises(verify.ParityError, match=r"is \[3, 8, 8, 3\], the manifest says \[1,"):
        verify.check_input_signature("t1 level 2", content, [1, 8, 8, 3])
    logits = verify.tflite_logits(content, images)
    if mode == "none":
        verify.check_parity("t1 level 2", verify.keras_logits(plain, images), logits)
    else:
        assert logits.shape == (7, plain.output_shape[-1]) and np.all(np.isfinite(logits))


@pytest.mark.slow
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
    content = dynamic_batch_tflite(dvn.to_plain(0, 2))  # task low, level 2: the runtime's pick
    assert signatures(content)[0] == [-1, 8, 8, 1]
    with pytest.raises(verify.ParityError, match=r"shape_signature is \[-1, 8, 8, 1\], "
                                                 r"the manifest says \[1, 8, 8, 1\]"):
        verify.check_input_signature("low", content, [1, 8, 8, 1])  # a new export refuses it
    manifest = json.loads((old / "manifest.json").read_text())
    model = next(m for m in manifest["models"] if (m["task"], m["level"]) == ("low", 2))
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
