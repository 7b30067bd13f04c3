"""python -m export end to end on the session's digits run, its manifest, and its bad-input errors."""

import hashlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from export.manifest import MODEL_FIELDS, check_manifest, read_manifest
from test_export_helpers import export


def held_out_digits(seed=0, test_fraction=0.25):
    """Raw held-out digit images (pixels in [0, 16]) and their digits, as dvn_tf splits them."""
    from dvn_tf.data.digits import PIXEL_SCALE, split_digits
    _, (images, digits) = split_digits(seed, test_fraction)
    return images * PIXEL_SCALE, digits


@pytest.mark.slow
def test_export_writes_a_complete_manifest(digits_run, digits_export):
    workdir, out = digits_run, digits_export.tflite
    manifest = read_manifest(out)
    check_manifest(manifest)
    assert manifest["scenario"] == "digits"
    assert manifest["input"] == {"shape": [1, 8, 8, 1], "dtype": "float32",
                                 "mean": manifest["input"]["mean"],
                                 "std": manifest["input"]["std"]}
    assert 0.2 < manifest["input"]["mean"][0] < 0.4 and 0.3 < manifest["input"]["std"][0] < 0.5
    assert [(t["name"], t["labels"]) for t in manifest["tasks"]] == [
        ("low", ["0", "1", "2", "3", "4"]), ("high", ["5", "6", "7", "8", "9"])]
    with open(os.path.join(workdir, "results.json")) as file:
        results = {(e["task"], e["level"]): e for e in json.load(file)["entries"]}
    assert sorted((m["task"], m["level"]) for m in manifest["models"]) == sorted(results)
    for model in manifest["models"]:
        assert set(model) == set(MODEL_FIELDS) | {"per_class_recall"}
        examples = [sum(row) for row in results[(model["task"], model["level"])]
                    ["per_class"]["confusion"]]  # held-out examples per class
        recall = model["per_class_recall"]  # LiteRT's, beside Keras's in results.json
        assert sum(r * n for r, n in zip(recall, examples)) / sum(examples) == pytest.approx(
            model["accuracy_tflite"], abs=1e-5)
        for litert, keras, n in zip(recall, results[(model["task"], model["level"])]
                                    ["per_class"]["recall"], examples):
            assert abs(litert - keras) <= 1 / n + 1e-6  # float32 parity: one example at most
        with open(os.path.join(out, model["file"]), "rb") as file:
            content = file.read()
        assert model["sha256"] == hashlib.sha256(content).hexdigest()
        assert model["bytes"] == len(content)
        trained = results[(model["task"], model["level"])]
        assert (model["params"], model["flops"]) == (trained["params"], trained["flops"])
        assert abs(model["accuracy_keras"] - trained["accuracy"]) < 1e-4
        assert abs(model["accuracy_tflite"] - model["accuracy_keras"]) <= 0.005
        assert model["quantize"] == "none" and 0 < model["latency_ms"] < 1000
        assert model["arena_bytes"] > 4 * 8 * 8 * 8  # at least one activation of the stem
        interpreter = Interpreter(model_content=content)  # a fixed batch: LiteRT.js runs it
        assert list(interpreter.get_input_details()[0]["shape_signature"]) == [1, 8, 8, 1]
        assert list(interpreter.get_output_details()[0]["shape_signature"]) == [1, 5]
    with open(os.path.join(out, "samples", "index.json")) as file:
        assert {task: len(files) for task, files in json.load(file).items()} == {"low": 10, "high": 10}
    assert sorted(os.listdir(out)) == sorted(
        ["manifest.json", "samples"] + [m["file"] for m in manifest["models"]]), \
        "temporary files left"
    assert len([line for line in digits_export.stdout.splitlines() if line.startswith("[")]) == 4


def test_exported_models_classify_held_out_digits(digits_export):
    """Preprocess raw pixels from the manifest alone, run the top level in LiteRT, read the label."""
    out = digits_export.tflite
    manifest = read_manifest(out)
    images, digits = held_out_digits()
    mean, std = manifest["input"]["mean"][0], manifest["input"]["std"][0]
    for task in manifest["tasks"]:
        top = max((m for m in manifest["models"] if m["task"] == task["name"]),
                  key=lambda m: m["level"])
        interpreter = Interpreter(model_path=os.path.join(out, top["file"]))
        interpreter.allocate_tensors()
        source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
        assert list(source["shape"]) == manifest["input"]["shape"]
        in_task = [i for i, d in enumerate(digits) if str(d) in task["labels"]][:20]
        correct = 0
        for i in in_task:
            x = ((images[i] / 16.0 - mean) / std).astype(np.float32)[None]  # [1, 8, 8, 1]
            interpreter.set_tensor(source["index"], x)
            interpreter.invoke()
            logits = interpreter.get_tensor(target["index"])[0]
            correct += task["labels"][int(np.argmax(logits))] == str(digits[i])
        assert correct >= 18, f"{task['name']}: {correct}/20 held-out digits right"


def test_the_runtime_accepts_the_export(digits_export):
    from dvn_runtime.manifest import load_manifest
    loaded = load_manifest(digits_export.tflite)
    assert set(loaded.tasks) == {"low", "high"} and len(loaded.models) == 4


def test_the_runtime_cli_classifies_the_exported_sample_images(digits_export):
    """Train, export, then classify the exported PNG samples as a user would on a board."""
    tflite = digits_export.tflite
    for task in ("low", "high"):
        folder = os.path.join(tflite, "samples", task)
        images = sorted(os.path.join(folder, name) for name in os.listdir(folder))
        assert len(images) == 10
        run = subprocess.run([sys.executable, "-m", "dvn_runtime", "--models", tflite,
                              "--task", task, "--image", *images],
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        answers = re.findall(r"^\s+1\. (\S+)", run.stdout, flags=re.MULTILINE)
        truths = [os.path.basename(path)[3:-4] for path in images]
        assert len(answers) == 10
        assert sum(a == t for a, t in zip(answers, truths)) >= 8, (answers, truths)


@pytest.mark.slow
def test_failed_export_leaves_the_previous_export_untouched(digits_run, tmp_path):
    workdir = digits_run
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(open(os.path.join(workdir, "config.json")).read())
    (broken / "model.keras").write_bytes(b"not a keras file")
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text('{"previous": true}')
    result = export(broken, f"--out={out}")
    assert result.returncode != 0
    assert_one_line_error(result, "cannot load")
    assert sorted(os.listdir(out)) == ["manifest.json"]
    assert json.loads((out / "manifest.json").read_text()) == {"previous": True}


def assert_one_line_error(result, fragment):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("export: error:")]
    assert len(errors) == 1 and fragment in errors[0], result.stderr[-1500:]


@pytest.fixture
def fake_run(tmp_path):
    """A directory that passes the cheap run check (the files exist; nothing is loaded)."""
    (tmp_path / "model.keras").write_bytes(b"")
    (tmp_path / "config.json").write_text("{}")
    return tmp_path


def test_missing_workdir(tmp_path):
    assert_one_line_error(export(tmp_path / "nowhere"), "does not exist")


def test_workdir_without_model(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert_one_line_error(export(tmp_path), "no model.keras")


def test_unknown_quantize_mode(fake_run):
    assert_one_line_error(export(fake_run, "--quantize=int4"), "unknown quantize mode 'int4'")


def test_unknown_layout(fake_run):
    assert_one_line_error(export(fake_run, "--layout=stacked"),
                          "unknown layout 'stacked'; choose one of: per-level, shared")


def test_shared_layout_refuses_quantization_aware_training(fake_run):
    assert_one_line_error(export(fake_run, "--layout=shared", "--quantize=int8-qat"),
                          "fine-tunes every level apart, so its levels share no weights")


def test_batch_below_one(fake_run):
    assert_one_line_error(export(fake_run, "--batch=0"), "--batch must be >= 1")


@pytest.mark.slow
def test_unwritable_output_directory(fake_run):
    (fake_run / "a_file").write_text("")
    assert_one_line_error(export(fake_run, f"--out={fake_run / 'a_file' / 'tflite'}"),
                          "cannot write to output directory")


def test_missing_workdir_flag():
    from test_export_helpers import run_module
    assert_one_line_error(run_module("export"), "--workdir")


@pytest.mark.parametrize("recall, accepted", [
    (None, True), ([1.0, 0.5, None, 0.0, 1], True), ([1.0, 0.5, 0.0, 0.0], False),
    ([1.0, 0.5, 0.0, 0.0, 1.5], False), ([1.0, 0.5, 0.0, 0.0, "1"], False)])
def test_per_class_recall_is_optional_and_checked(digits_export, recall, accepted):
    manifest = read_manifest(digits_export.tflite)
    model = manifest["models"][0]  # task low: 5 classes
    if recall is None:
        del model["per_class_recall"]  # as an export made before per-class recall existed
    else:
        model["per_class_recall"] = recall
    if accepted:
        check_manifest(manifest)
    else:
        with pytest.raises(ValueError, match=r"models\[0\].per_class_recall must be 5 numbers"):
            check_manifest(manifest)
