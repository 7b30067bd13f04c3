"""A task may name any tfds image-classification dataset: mnist here, known to no table.

In-process on tfds's mock data, and once through the train CLI: the child
process runs `dvn_tf.train` as `python -m` does (runpy) inside
`tfds.testing.mock_data`, with sockets blocked.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from dvn_tf.data.tfds_tasks import load_tfds_task

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOCK_EXAMPLES = 24
MNIST_TASKS = ("({'name': 'digits_0_4', 'dataset': 'mnist', 'classes': [0, 1, 2, 3, 4]}, "
               "{'name': 'digits_odd_even', 'dataset': 'mnist', "
               "'groups': {'even': [0, 2, 4, 6, 8], 'odd': [1, 3, 5, 7, 9]}})")
NETWORK_GUARD = """\
import socket
def _refuse(*args, **kwargs):
    raise OSError("network access in a test")
socket.getaddrinfo = socket.create_connection = socket.socket.connect = _refuse
"""
RUN_TRAIN_CLI_UNDER_MOCK = f"""\
import runpy, sys
import tensorflow_datasets as tfds
sys.argv = ["dvn_tf.train"] + sys.argv[1:]
with tfds.testing.mock_data(num_examples={MOCK_EXAMPLES}):
    runpy.run_module("dvn_tf.train", run_name="__main__", alter_sys=True)
"""


def test_a_grayscale_dataset_is_measured_resized_and_subsampled():
    spec = {"name": "mnist_task", "dataset": "mnist", "augment": "none", "image_size": 32}
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        task = load_tfds_task(spec, train_examples=10)
        native = load_tfds_task({**spec, "image_size": None}, download=False)
        raw = np.stack([example["image"] for example in
                        tfds.as_numpy(tfds.builder("mnist").as_dataset(split="train"))])
        train, test = list(task.train), list(native.test)
    assert task.input_shape == (32, 32, 1) and native.input_shape == (28, 28, 1)
    assert task.train_size == len(train) == 10 and native.train_size == MOCK_EXAMPLES
    assert all(image.shape == (32, 32, 1) and image.dtype == tf.float32 for image, _ in train)
    np.testing.assert_allclose(task.mean, [raw.mean() / 255], rtol=1e-6)
    np.testing.assert_allclose(task.std, [raw.std() / 255], rtol=1e-6)
    pixels = np.stack([image for image, _ in test]) * native.std[0] + native.mean[0]
    np.testing.assert_allclose(pixels * 255, raw, atol=1e-3)


def test_train_examples_draws_a_seeded_subset_of_the_classes_kept():
    spec = {"name": "low", "dataset": "mnist", "augment": "none", "classes": [0, 1, 2, 3, 4]}

    def train_images(seed, limit):
        task = load_tfds_task(spec, seed=seed, download=False, train_examples=limit)
        images = [image.numpy().tobytes() for image, _ in task.train]
        assert task.train_size == len(images)
        return images

    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        everything = train_images(0, None)
        first, again, other = train_images(0, 6), train_images(0, 6), train_images(1, 6)
    assert len(everything) > 6 and len(first) == len(set(first)) == 6
    assert set(first) <= set(everything) and set(other) <= set(everything)
    assert first == again and set(first) != set(other)


@pytest.mark.slow
def test_mnist_tasks_train_through_the_cli_under_mock_data(tmp_path):
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NETWORK_GUARD)
    workdir = tmp_path / "run"
    run = subprocess.run(
        [sys.executable, "-c", RUN_TRAIN_CLI_UNDER_MOCK, "--scenario=fashion",
         f"--workdir={workdir}", f"--config.tasks={MNIST_TASKS}", "--config.base_width=4",
         "--config.epochs=1", "--config.batch_size=8", "--config.train_examples=8",
         "--config.run_eagerly=true", f"--config.data_dir={tmp_path}"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(guard)}, capture_output=True,
        text=True, stdin=subprocess.DEVNULL, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((workdir / "results.json").read_text())
    assert [(t["name"], t["num_classes"]) for t in results["tasks"]] == [
        ("digits_0_4", 5), ("digits_odd_even", 2)]
    assert len(results["entries"]) == 4
    assert "Task digits_odd_even: mnist 'label', 2 classes" in run.stdout
    assert "held out (split 'test'), 28x28x1, mean/std measured" in run.stdout
