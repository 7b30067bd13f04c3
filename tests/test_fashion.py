"""Fashion-MNIST: Debian's files restored to tfds's originals, and the three CPU scenarios.

`fashion_h` runs in-process on tfds's mock data (random examples of the real
`fashion_mnist` features) with a tiny backbone; `fashion` and `fashion_seq`
train through the same code as j1 and s1 (tested in test_scenarios.py), so
only their configs are checked here. The real runs and their numbers are in
docs/training.md.
"""

import gzip
import hashlib
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow_datasets as tfds

from dvn_tf import train
from dvn_tf.data import debian_fashion_mnist
from dvn_tf.data.tfds_tasks import load_tfds_task
from dvn_tf.expected_time import STAGE_STEP_SHARE, STEP_SECONDS, expected_seconds
from test_scenarios import check_results

MOCK_EXAMPLES = 40
needs_debian_files = pytest.mark.skipif(
    not debian_fashion_mnist.files_present(),
    reason=f"apt-get install {debian_fashion_mnist.DEBIAN_PACKAGE} (make setup does, as root)")


def test_restore_original_puts_back_the_name_and_time_that_debian_dropped(tmp_path):
    original = tmp_path / "labels-idx1-ubyte.gz"
    with open(original, "wb") as raw, gzip.GzipFile(
            "labels-idx1-ubyte", "wb", fileobj=raw, mtime=1504176606) as file:
        file.write(bytes(range(256)) * 8)
    data = original.read_bytes()
    name_end = data.index(b"\0", 10) + 1
    stripped = tmp_path / "stripped" / original.name  # as strip-nondeterminism leaves it
    stripped.parent.mkdir()
    stripped.write_bytes(data[:3] + b"\0" + (1591347949).to_bytes(4, "little") + data[8:10]
                         + data[name_end:])
    restored = tmp_path / "restored.gz"
    debian_fashion_mnist.restore_original(stripped, restored, 1504176606)
    assert restored.read_bytes() == data
    debian_fashion_mnist.restore_original(original, restored, 0)  # already original: copied
    assert restored.read_bytes() == data
    stripped.write_bytes(b"not a gzip file")
    with pytest.raises(ValueError, match="not a gzip file"):
        debian_fashion_mnist.restore_original(stripped, restored, 0)


@needs_debian_files
def test_restored_debian_files_are_the_files_tfds_downloads(tmp_path):
    expected = {info.filename: info.checksum
                for info in tfds.builder("fashion_mnist").url_infos.values()}
    assert sorted(expected) == sorted(debian_fashion_mnist.ORIGINAL_MTIMES)
    for name, mtime in debian_fashion_mnist.ORIGINAL_MTIMES.items():
        restored = tmp_path / name
        debian_fashion_mnist.restore_original(
            os.path.join(debian_fashion_mnist.DEBIAN_DIR, name), restored, mtime)
        assert hashlib.sha256(restored.read_bytes()).hexdigest() == expected[name], name


def test_coarse_groups_map_the_ten_classes_onto_three():
    spec = train.load_scenario_config("fashion_h").tasks[0]
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        coarse = load_tfds_task({**spec, "augment": "none"}, download=False)
        fine = load_tfds_task({**spec, "groups": None, "augment": "none"}, download=False)
        pairs = [(int(c), int(f)) for (_, c), (_, f) in zip(coarse.train, fine.train)]
    assert coarse.labels == ["clothing", "footwear", "bag"] and fine.num_classes == 10
    group_of = {i: g for g, ids in enumerate(spec["groups"].values()) for i in ids}
    assert len(pairs) == coarse.train_size == MOCK_EXAMPLES
    assert all(coarse_label == group_of[fine_label] for coarse_label, fine_label in pairs)
    assert {fine_label for _, fine_label in pairs} != {0}  # the mock draws several classes


def run_tiny(scenario, tmp_path, **overrides):
    """The scenario in-process on mock data: ResNet-8 width 4, one epoch of 16 images a task, eager."""
    config = train.load_scenario_config(scenario)
    config.update({"base_width": 4, "epochs": 1, "batch_size": 8, "train_examples": 16,
                   "run_eagerly": True, "data_dir": str(tmp_path / "data"), **overrides})
    with tfds.testing.mock_data(num_examples=MOCK_EXAMPLES):
        return train.run(config, str(tmp_path / "run")), config


@pytest.mark.slow
def test_fashion_h_trains_coarse_and_fine_tasks(tmp_path, capsys):
    results, config = run_tiny("fashion_h", tmp_path, base_width=8)  # a width with a step cost
    check_results(results, config, [3, 10])
    output = capsys.readouterr().out
    assert "Task coarse: fashion_mnist 'label', 3 classes, 16 training images" in output
    assert "held out (split 'test')" in output
    assert "Expected training time (dvn): about 0 s on this project's 2-core CPU" in output


@pytest.mark.parametrize("scenario", ["fashion", "fashion_h", "fashion_seq"])
def test_fashion_scenarios_are_cpu_scale(scenario):
    config = train.load_scenario_config(scenario)
    assert config.scenario == scenario and config.backbone == "resnet-8"
    assert {task["dataset"] for task in config.tasks} == {"fashion_mnist"}
    assert all(task["augment"] == "none" for task in config.tasks)
    assert config.units == len(config.tasks) == 2
    assert config.sequential == (scenario == "fashion_seq")
    assert 6_000 <= config.train_examples <= 30_000 and config.epochs <= 10
    ids = np.concatenate([task.get("classes") or [] for task in config.tasks])
    assert len(ids) in (0, 10) and sorted(ids) == sorted(set(ids))


@pytest.mark.parametrize("scenario", ["fashion", "fashion_h", "fashion_seq"])
def test_the_defaults_train_7_to_10_minutes_by_the_estimate(scenario):
    config = train.load_scenario_config(scenario)
    full_size = [SimpleNamespace(train_size=config.train_examples, input_shape=(28, 28, 1))] * 2
    assert 7 * 60 <= expected_seconds(config, full_size) <= 10 * 60  # start-up adds about 1
    steps = config.epochs * math.ceil(config.train_examples / config.batch_size)
    step = STEP_SECONDS[("resnet-8", config.base_width, (28, 28, 1))]
    shares = STAGE_STEP_SHARE if config.sequential else [1]
    assert expected_seconds(config, full_size) == pytest.approx(steps * step * sum(shares))
    config.base_width = 12  # no step cost measured at this width: no estimate, no line
    assert expected_seconds(config, full_size) is None
