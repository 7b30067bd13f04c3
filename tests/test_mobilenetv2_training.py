"""MobileNetV2 through every training path, at a tiny size: width 0.25, 7 of its 17 blocks.

- The train CLI on the embedded digits (the joint path), then the export CLI
  and the runtime CLI on what it wrote; an int8 level of the same run.
- H1 (hierarchical) under tfds's mock data; the sequential scenario with
  every sequential method; nested and independent; mixed precision; a
  MirroredStrategy step against the default strategy's.

Even at this depth a MobileNetV2 (22 convolutions and 22 batch norms) traces
about 2.5 times the ops of a ResNet-8, and tracing dominates a tiny run: the
runs share a workdir or a first stage where they can, and take one task
where the path allows it.
"""

import json
import os
import re
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from configs import digits, digits_seq
from conftest import ONE_EAGER_STEP
from dvn_tf.train import run
from export import convert, verify
from export.loading import load_run
from export.manifest import read_manifest
from test_export_helpers import PLAIN_LAYERS, REPO, export
from test_scenarios import check_results, run_scenario

MOBILE = {"backbone": "mobilenetv2", "width_multiplier": 0.25, "depth_coefficient": 0.25,
          "batch_size": 64}
ONE_TASK = {"tasks": digits.get_config().tasks[:1]}
CLI_EPOCHS = 4


def config_of(module, **overrides):
    config = module.get_config()
    config.update({**MOBILE, **ONE_EAGER_STEP, **overrides})
    return config


def accuracies(entries):
    return {(e["task"], e["level"]): e["accuracy"] for e in entries}


def op_names(path):
    """The builtin op names of a .tflite file, as LiteRT reads them."""
    interpreter = Interpreter(model_path=str(path))
    return {op["op_name"] for op in interpreter._get_ops_details()}


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """Workdir of `python -m dvn_tf.train --config.backbone=mobilenetv2` on digits, exported."""
    workdir = tmp_path_factory.mktemp("mobilenet_cli")
    flags = [f"--config.{key}={value}" for key, value in MOBILE.items()]
    train = subprocess.run(
        [sys.executable, "-m", "dvn_tf.train", f"--workdir={workdir}",
         f"--config.epochs={CLI_EPOCHS}", *flags],
        cwd=REPO, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=900)
    assert train.returncode == 0, train.stderr[-2000:]
    exported = export(workdir)
    assert exported.returncode == 0, exported.stderr[-2000:]
    return workdir


@pytest.mark.slow
def test_train_cli_trains_exports_and_the_runtime_classifies(cli_run):
    results = json.loads((cli_run / "results.json").read_text())
    assert results["backbone"] == "mobilenetv2" and results["scenario"] == "digits"
    entries = {(e["task"], e["level"]): e for e in results["entries"]}
    for task in ("low", "high"):
        assert entries[(task, 1)]["flops"] < entries[(task, 2)]["flops"]
        assert entries[(task, 2)]["accuracy"] > 0.6, entries  # 5 classes: chance is 0.2
    tflite = cli_run / "tflite"
    manifest = read_manifest(tflite)
    for model in manifest["models"]:
        ops = op_names(tflite / model["file"])
        assert "DEPTHWISE_CONV_2D" in ops and not ops & {"GATHER", "SLICE", "STRIDED_SLICE"}, ops
        assert abs(model["accuracy_tflite"] - model["accuracy_keras"]) <= 0.005
    for task in ("low", "high"):
        folder = tflite / "samples" / task
        images = sorted(str(folder / name) for name in os.listdir(folder))
        runtime = subprocess.run([sys.executable, "-m", "dvn_runtime", "--models", str(tflite),
                                  "--task", task, "--image", *images],
                                 cwd=REPO, capture_output=True, text=True, timeout=120)
        assert runtime.returncode == 0, runtime.stderr[-2000:]
        assert f"task {task}: level 2 of levels [1, 2]" in runtime.stdout
        answers = re.findall(r"^\s+1\. (\S+)", runtime.stdout, flags=re.MULTILINE)
        truths = [os.path.basename(path)[3:-4] for path in images]
        assert sum(a == t for a, t in zip(answers, truths)) >= 6, (answers, truths)


@pytest.mark.slow
def test_an_int8_level_of_the_mobilenet_run(cli_run, tmp_path):
    """Full-integer level 1 of task 'high' (unit 2 alone), calibrated on its training split."""
    _, dvn, tasks = load_run(str(cli_run))
    images, labels = verify.held_out(tasks[1])
    plain = dvn.to_plain(1, 1)
    assert {type(layer).__name__ for layer in plain.layers} == PLAIN_LAYERS  # Add: block 0
    content = convert.to_tflite(plain, "int8", convert.training_images(tasks[1]))
    path = tmp_path / "high_level1_int8.tflite"
    path.write_bytes(content)
    assert "DEPTHWISE_CONV_2D" in op_names(path)
    assert Interpreter(model_path=str(path)).get_input_details()[0]["dtype"] == np.int8
    float32 = verify.accuracy(verify.keras_logits(plain, images), labels)
    assert float32 - verify.accuracy(verify.tflite_logits(content, images), labels) <= 0.03


@pytest.mark.slow
def test_hierarchical_h1_coarse_and_fine(tmp_path):
    results, config, _ = run_scenario("h1", tmp_path, tmp_path, **{**MOBILE, "batch_size": 8})
    check_results(results, config, [20, 100])
    assert results["backbone"] == "mobilenetv2"


@pytest.fixture(scope="module")
def sequential_run(tmp_path_factory):
    """digits_seq learned by the DVN (Eq. 4): (workdir, results)."""
    workdir = tmp_path_factory.mktemp("mobilenet_seq")
    return workdir, run(config_of(digits_seq), str(workdir))


@pytest.mark.slow
def test_sequential_dvn_learns_task_by_task(sequential_run):
    _, results = sequential_run
    assert [s["after_task"] for s in results["stages"]] == ["low", "high"]
    assert set(accuracies(results["entries"])) == {("low", 1), ("low", 2), ("high", 1),
                                                   ("high", 2)}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["finetune", "feature_extraction"])
def test_sequential_methods_from_the_same_first_stage(sequential_run, tmp_path, method):
    workdir, dvn = sequential_run
    shutil.copytree(workdir / "stage1_low", tmp_path / "stage1_low")
    results = run(config_of(digits_seq, method=method), str(tmp_path))
    first, both = (accuracies(stage["entries"]) for stage in results["stages"])
    assert first == accuracies(dvn["stages"][0]["entries"])
    assert set(both) == {("low", 1), ("low", 2), ("high", 1), ("high", 2)}
    if method == "feature_extraction":  # only the new task's head and batch norms trained
        assert all(both[("low", level)] == first[("low", level)] for level in (1, 2))


@pytest.mark.slow
def test_nested_and_independent_report_every_budget(tmp_path):
    nested = run(config_of(digits, method="nested", **ONE_TASK), str(tmp_path / "nested"))
    independent = run(config_of(digits, method="independent", **ONE_TASK),
                      str(tmp_path / "independent"))
    for results in (nested, independent):
        assert [(e["task"], e["level"]) for e in results["entries"]] == [("low", 1), ("low", 2)]
        assert all(0 <= e["accuracy"] <= 1 for e in results["entries"])
    # The top budget is the whole MobileNetV2 in both; independent's level 1 is alpha / 2.
    assert nested["entries"][1]["params"] == independent["entries"][1]["params"]
    assert independent["entries"][0]["params"] < independent["entries"][1]["params"]
    assert nested["stored_params"] < independent["stored_params"]


@pytest.mark.slow
def test_mixed_bfloat16_training(tmp_path):
    config = config_of(digits, precision="mixed_bfloat16", **ONE_TASK)
    try:
        results = run(config, str(tmp_path))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert all(0 <= e["accuracy"] <= 1 for e in results["entries"])
    model = keras.saving.load_model(tmp_path / "model.keras", compile=False)
    assert model.dtype_policy.name == "mixed_bfloat16"  # built under the policy
    assert {v.dtype for v in model.weights} == {"float32"}


MIRRORED_STEP = """
import json, sys
import strategy_worker as worker  # splits the CPU into two logical devices on import
import tensorflow as tf
worker.MODEL_OPTIONS = {options}
worker.RUN_EAGERLY = True
worker.CLASSES = {{"a": 3}}
data = worker.batch(2, duplicated_halves=False)
logs_d, model_d = worker.FreshStart(tf.distribute.get_strategy()).first_step(data)
logs_m, model_m = worker.FreshStart(tf.distribute.MirroredStrategy()).first_step(data)
json.dump({{"replicas": model_m.distribute_strategy.num_replicas_in_sync,
           "loss_default": logs_d["loss"], "loss_mirrored": logs_m["loss"],
           "weights_max_diff": worker.max_difference(worker.weights(model_d),
                                                     worker.weights(model_m)),
           "replica_spread": worker.replica_copies_spread(model_m)}}, open(sys.argv[1], "w"))
"""


@pytest.mark.slow
def test_mirrored_step_equals_the_default_step(tmp_path):
    """One step on two logical CPUs equals one on the whole batch (synchronized batch norm)."""
    options = {key: MOBILE[key] for key in ("backbone", "width_multiplier", "depth_coefficient")}
    out = tmp_path / "step.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([REPO, os.path.join(REPO, "tests")])}
    step = subprocess.run([sys.executable, "-c", MIRRORED_STEP.format(options=options), str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    assert step.returncode == 0, step.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["replicas"] == 2
    assert report["loss_mirrored"] == pytest.approx(report["loss_default"], abs=1e-4)
    assert report["weights_max_diff"] <= 1e-4 and report["replica_spread"] <= 1e-4
