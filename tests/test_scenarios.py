"""Every scenario config runs end to end: a tiny backbone, one epoch, tfds's mock data.

The embedded digits scenarios are the session's real runs (tests/conftest.py).

CIFAR-10/100 and STL-10 come from `tfds.testing.mock_data` (random examples
of the real features). Tiny-ImageNet cannot be mocked, as its class names come
from the zip: it is prepared for real from a small zip in the official layout
(200 wnids, one training and one validation image each), and the mock is
bypassed for its builder.
"""

import contextlib
import json
import os
import subprocess
import sys
import time
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow_datasets as tfds
from tensorflow_datasets.core import dataset_builder

import tiny_imagenet_zip
from dvn_tf import train
from dvn_tf.data.tfds_tasks import load_tfds_task
from dvn_tf.data.tiny_imagenet import TinyImagenet

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOCK_EXAMPLES = 24


@contextlib.contextmanager
def mock_data_except_tiny_imagenet(num_examples):
    """`tfds.testing.mock_data` for every builder but Tiny-ImageNet's, which stays real.

    mock_data (policy AUTO, falling back to USE_CODE without metadata files)
    replaces every builder's data dir, makes `download_and_prepare` a no-op and
    `as_dataset` random; each of these is routed back to the real method for
    `TinyImagenet` instances.
    """
    patched = [(dataset_builder.DatasetBuilder, "__init__"),
               (dataset_builder.DatasetBuilder, "download_and_prepare"),
               (dataset_builder.DatasetBuilder, "as_dataset"),
               (dataset_builder.FileReaderBuilder, "_as_dataset")]
    real = {key: vars(key[0])[key[1]] for key in patched}
    with tfds.testing.mock_data(num_examples=num_examples):
        mocked = {key: vars(key[0])[key[1]] for key in patched}
        assert all(mocked[key] is not real[key] for key in patched), (
            "tfds.testing.mock_data no longer patches these methods; update the routing")

        def route(key):
            def method(self, *args, **kwargs):
                chosen = real if isinstance(self, TinyImagenet) else mocked
                return chosen[key].__get__(self, type(self))(*args, **kwargs)
            return method

        with contextlib.ExitStack() as stack:
            for cls, name in patched:
                stack.enter_context(mock.patch.object(cls, name, route((cls, name))))
            yield


@pytest.fixture(scope="module")
def tiny_imagenet_dir(tmp_path_factory):
    """A tfds data dir, a 200-class Tiny-ImageNet zip in its manual dir (prepared on first use)."""
    return tiny_imagenet_zip.many_classes_data_dir(tmp_path_factory.mktemp("tfds"))


def tiny_config(scenario, data_dir, **overrides):
    """The scenario's config with a tiny backbone and one eager step of 8 images per task.

    The tests check structure, not learning. Tracing a DVN step costs more than
    running it eagerly once (in the suite, s1 took 25 s eager against 33 s
    traced; j2 and j3, with 4 and 3 tasks at 64 and 96 px, 111 s and 150 s for
    an eager epoch of every training image against 78 s and 81 s traced). The
    digits runs of tests/conftest.py and tests/test_methods.py learn, and trace.
    """
    config = train.load_scenario_config(scenario)
    config.backbone = "resnet-8"
    config.base_width = 4
    config.epochs = 1
    config.batch_size = 8
    config.train_examples = 8
    config.run_eagerly = True
    config.data_dir = str(data_dir)
    for key, value in overrides.items():
        config[key] = value
    return config


def run_scenario(scenario, tmp_path, data_dir, **overrides):
    """Run the scenario in-process under mock data; return (results, config, workdir)."""
    config = tiny_config(scenario, data_dir, **overrides)
    workdir = tmp_path / "run"
    with mock_data_except_tiny_imagenet(MOCK_EXAMPLES):
        results = train.run(config, str(workdir))
    on_disk = json.loads((workdir / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert (workdir / "results.md").exists()
    return on_disk, config, workdir


def check_entries(entries, task_names, units):
    """One entry per (task, level), levels 1..k, params and FLOPs growing with level."""
    by_key = {(e["task"], e["level"]): e for e in entries}
    assert len(by_key) == len(entries)
    assert set(by_key) == {(t, l) for t in task_names for l in range(1, units + 1)}
    for task in task_names:
        levels = [by_key[(task, level)] for level in range(1, units + 1)]
        assert [len(e["units"]) for e in levels] == list(range(1, units + 1))
        for lower, higher in zip(levels, levels[1:]):
            assert lower["params"] < higher["params"] and lower["flops"] < higher["flops"]
        assert all(0.0 <= e["accuracy"] <= 1.0 for e in levels)
    return by_key


def check_results(results, config, num_classes):
    """The results of a run agree with its config; `num_classes` per task, in task order."""
    names = [task["name"] for task in config.tasks]
    assert results["scenario"] == config.scenario and results["method"] == "dvn"
    assert results["units"] == config.units
    assert [t["name"] for t in results["tasks"]] == names
    assert [t["num_classes"] for t in results["tasks"]] == num_classes
    entries = check_entries(results["entries"], names, config.units)
    assert results["stored_params"] >= max(e["params"] for e in results["entries"])
    return entries


def saved_model(workdir):
    """The DVN the run saved."""
    return keras.saving.load_model(os.path.join(workdir, "model.keras"), compile=False)


def test_the_mock_leaves_tiny_imagenet_real(tiny_imagenet_dir):
    spec = {"name": "t", "dataset": "tiny_imagenet", "classes": [7, 199], "augment": "none"}
    with mock_data_except_tiny_imagenet(MOCK_EXAMPLES):
        tiny = load_tfds_task(spec, data_dir=str(tiny_imagenet_dir))
        cifar = load_tfds_task({"name": "c", "dataset": "cifar10"}, data_dir=str(tiny_imagenet_dir))
        examples = [(image.numpy() * tiny.std + tiny.mean) * 255 for image, _ in tiny.test]
    assert cifar.train_size == cifar.test_size == MOCK_EXAMPLES
    assert tiny.labels == ["class 7", "class 199"]  # from the zip's words.txt
    assert tiny.train_size == tiny.test_size == len(examples) == 2
    assert sorted(round(float(np.mean(image))) for image in examples) == sorted(
        tiny_imagenet_zip.wnid_gray_level(c) for c in (7, 199))


@pytest.mark.slow
def test_s2_learns_cifar10_then_cifar100_in_stages(tmp_path):
    results, config, workdir = run_scenario("s2", tmp_path, tmp_path)
    entries = check_results(results, config, [10, 100])
    stages = results["stages"]
    assert [s["after_task"] for s in stages] == ["cifar10", "cifar100"]
    check_entries(stages[0]["entries"], ["cifar10"], 2)
    assert stages[1]["entries"] == results["entries"]
    assert entries[("cifar100", 1)]["units"] == [2]
    for stage in ("stage1_cifar10", "stage2_cifar100"):
        assert (workdir / stage / "model.keras").exists()


@pytest.mark.slow
def test_j3_three_image_sizes_and_unequal_units(tmp_path, tiny_imagenet_dir):
    results, config, workdir = run_scenario("j3", tmp_path, tiny_imagenet_dir)
    entries = check_results(results, config, [100, 200, 10])
    model = saved_model(workdir)
    assert model.input_shapes == [(32, 32, 3), (64, 64, 3), (96, 96, 3)]
    for task, size in enumerate((32, 64, 96)):  # the sliced model agrees with its plain export
        images = np.random.default_rng(task).normal(size=(2, size, size, 3)).astype("float32")
        np.testing.assert_allclose(model(images, task=task, level=1),
                                   model.to_plain(task, 1)(images), atol=1e-4)
    assert [t["order"] for t in results["tasks"]] == [[1, 2, 3], [2, 1, 3], [3, 2, 1]]
    # unit_fractions (1, 1, 2): STL-10's level 1 is unit 3, half of every layer, where
    # CIFAR-100's is unit 1, a quarter; per pixel (96^2 = 9 x 32^2) it costs over twice as much.
    assert entries[("stl10", 1)]["units"] == [3] and entries[("cifar100", 1)]["units"] == [1]
    assert entries[("stl10", 1)]["flops"] / 9 > 2 * entries[("cifar100", 1)]["flops"]
    # The whole network on 32, 64 and 96 pixels: conv FLOPs grow with the image area.
    assert (entries[("cifar100", 3)]["flops"] < entries[("tiny_imagenet", 3)]["flops"]
            < entries[("stl10", 3)]["flops"])


@pytest.mark.slow
def test_j2_four_tasks_of_fifty_tiny_imagenet_classes(tmp_path, tiny_imagenet_dir):
    results, config, workdir = run_scenario("j2", tmp_path, tiny_imagenet_dir)
    check_results(results, config, [50, 50, 50, 50])
    assert [t["order"] for t in results["tasks"]] == [
        [1, 2, 3, 4], [2, 1, 3, 4], [3, 2, 4, 1], [4, 3, 2, 1]]
    assert saved_model(workdir).input_shapes == [(64, 64, 3)] * 4


@pytest.mark.slow
def test_j1_cifar10_and_cifar100(tmp_path):
    results, config, _ = run_scenario("j1", tmp_path, tmp_path)
    check_results(results, config, [10, 100])
    assert "stages" not in results


@pytest.mark.slow
def test_h1_coarse_and_fine_labels_of_cifar100(tmp_path):
    results, config, _ = run_scenario("h1", tmp_path, tmp_path)
    check_results(results, config, [20, 100])
    assert [t["label_key"] for t in config.tasks] == ["coarse_label", "label"]


@pytest.mark.slow
def test_s1_two_halves_of_cifar10_in_stages(tmp_path):
    results, config, _ = run_scenario("s1", tmp_path, tmp_path)
    check_results(results, config, [5, 5])
    assert [s["after_task"] for s in results["stages"]] == ["cifar10_0_4", "cifar10_5_9"]
    check_entries(results["stages"][0]["entries"], ["cifar10_0_4"], 2)


@pytest.mark.slow
@pytest.mark.parametrize("scenario, stages", [("digits", 0), ("digits_seq", 2)])
def test_embedded_digits_scenarios(request, scenario, stages):
    """The session's real runs of the embedded scenarios (tests/conftest.py), checked as above."""
    workdir = request.getfixturevalue(f"{scenario}_run")
    results = json.loads((workdir / "results.json").read_text())
    assert (workdir / "results.md").exists()
    check_results(results, train.load_scenario_config(scenario), [5, 5])
    assert len(results.get("stages", [])) == stages


@pytest.mark.parametrize("scenario", ["j1", "j2", "j3", "h1", "s1", "s2"])
def test_paper_scenarios_default_to_the_gpu_setting(scenario):
    config = train.load_scenario_config(scenario)
    assert config.scenario == scenario
    assert config.backbone == "wrn-28-10" and config.batch_size == 128
    assert config.momentum == 0.9 and config.weight_decay == 5e-4
    assert config.level_weights is None  # equal per-level weights
    assert all(task["augment"] == "standard" for task in config.tasks)
    assert config.sequential == scenario.startswith("s")
    assert config.units == len(config.tasks)


@pytest.mark.slow
def test_missing_cifar_with_no_network_gives_one_line_from_the_cli(tmp_path):
    """The real CLI, no mock, sockets blocked: the host is tried once, and two lines say so."""
    data_dir, workdir, guard = (tmp_path / name for name in ("data", "run", "guard"))
    data_dir.mkdir()
    guard.mkdir()
    attempts = tmp_path / "network_attempts.txt"
    (guard / "sitecustomize.py").write_text(
        "import socket\n"
        "def _refuse(*args, **kwargs):\n"
        f"    with open({str(attempts)!r}, 'a') as log:\n"
        "        log.write(repr(args[:2]) + '\\n')\n"
        "    raise OSError('network access in a test')\n"
        "socket.getaddrinfo = _refuse\n"
        "socket.socket.connect = _refuse\n"
        "socket.create_connection = _refuse\n")
    env = {**os.environ, "PYTHONPATH": str(guard)}
    probe = subprocess.run([sys.executable, "-c", "import socket; socket.getaddrinfo('a', 1)"],
                           env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and attempts.exists(), "the network guard is not active"
    attempts.unlink()
    start = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "dvn_tf.train", "--scenario=s2", f"--workdir={workdir}",
         f"--config.data_dir={data_dir}"],
        cwd=REPO, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=300)
    seconds = time.monotonic() - start
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr[-3000:]  # no progress bars, no retry warnings
    assert run.stdout.splitlines() == [
        f"cifar10 is not in {data_dir} yet: downloading and preparing it there "
        "(--config.download=false stops instead of downloading)"]
    assert lines[0].startswith(f"dvn_tf.train: error: downloading cifar10 into {data_dir} "
                               "failed (ConnectionError: cannot reach www.cs.toronto.edu:443: ")
    assert "download_and_prepare()" in lines[0] and "--config.data_dir" in lines[0]
    assert "www.cs.toronto.edu" in attempts.read_text()  # the download was attempted
    assert list(data_dir.iterdir()) == []
    assert seconds < 60  # mostly start-up; the download itself gives up within seconds
