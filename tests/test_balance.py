"""Small classes learned (--config.balance): the decision, the class weights in every level's loss,
class-balanced sampling of folder and streamed tasks, and the CLI on an imbalanced folder."""

import dataclasses
import json
import os

import keras
import ml_collections
import numpy as np
import pytest

from dvn_tf.data import balance, load_tasks
from dvn_tf.data.pipeline import training_dataset
from dvn_tf.model import DVNModel
from dvn_tf.units import UnitPlan
from tests.test_folder_data import folder_config, write_image
from tests.test_folder_train import command

SIZES = {"big": 40, "middle": 40, "small": 5}  # per class; 20% held out: 32, 32 and 4 to train


def imbalanced_folder(root):
    """root/CLASS/NN.png, a gray level per class (so a model can tell them apart)."""
    for gray, (name, count) in zip((40, 130, 220), SIZES.items()):
        for number in range(count):
            write_image(os.path.join(root, name, f"{number:02d}.png"), color=gray, mode="L",
                        size=(8, 8))
    return root


@pytest.fixture(scope="module")
def folder_task(tmp_path_factory):
    """The TaskData of the imbalanced folder, 8x8, no augmentation."""
    root = imbalanced_folder(str(tmp_path_factory.mktemp("balance") / "shades"))
    spec = {"name": "shades", "dataset": "folder", "path": root, "augment": "none"}
    task, = load_tasks(folder_config(spec, image_size=8), str(tmp_path_factory.mktemp("run")))
    return task


def test_class_weights_are_inverse_frequency_with_mean_one_over_examples():
    counts = [600, 600, 600, 20]
    weights = balance.class_weights(counts)
    assert weights == pytest.approx([1820 / (4 * 600)] * 3 + [1820 / (4 * 20)])
    assert np.dot(counts, weights) / sum(counts) == pytest.approx(1.0)
    assert balance.class_weights([10, 0, 30]) == pytest.approx([2.0, 0.0, 2 / 3])


def test_folder_task_knows_its_training_class_counts(folder_task):
    assert folder_task.labels == ["big", "middle", "small"]
    assert folder_task.class_counts == [32, 32, 4]


@pytest.mark.parametrize("mode, chosen, said", [
    ("auto", balance.AUTO_MODE, "balance=auto: "),
    ("none", None, "balance=none: not balanced (the small classes may be learned poorly)"),
    ("weights", "weights", "loss weighted by inverse class frequency (weights 0.71 to 5.67)"),
    ("sampling", "sampling", "each batch draws its classes uniformly"),
])
def test_resolve_balances_a_task_8x_imbalanced_and_says_so(folder_task, mode, chosen, said):
    task, lines = dataclasses.replace(folder_task), []
    balance.resolve(ml_collections.ConfigDict({"balance": mode}), [task], log=lines.append)
    assert task.balance == chosen
    assert len(lines) == 1 and said in lines[0], lines
    assert "Task shades: training class sizes differ 8.0x (big: 32, small: 4)" in lines[0]


def test_auto_leaves_a_task_within_3x_as_it_is(folder_task):
    task, lines = dataclasses.replace(folder_task, class_counts=[32, 32, 11]), []
    balance.resolve(ml_collections.ConfigDict({"balance": "auto"}), [task], log=lines.append)
    assert task.balance is None and lines[0].endswith("balance=auto: not balanced")


def test_an_unknown_mode_is_a_one_line_error(folder_task):
    with pytest.raises(ValueError, match="balance='equal'; expected one of auto, none, weights"):
        balance.resolve(ml_collections.ConfigDict({"balance": "equal"}), [folder_task])


def label_shares(task, batches=40, batch_size=30):
    """The share of each class among the labels of the first training batches."""
    stream = iter(training_dataset([task], batch_size, seed=0))
    labels = np.concatenate([next(stream)["shades"][1].numpy() for _ in range(batches)])
    return np.bincount(labels, minlength=task.num_classes) / len(labels)


@pytest.mark.parametrize("held_in_memory", [True, False], ids=["batches", "stream"])
def test_sampling_draws_the_classes_uniformly(folder_task, held_in_memory):
    task = dataclasses.replace(folder_task, balance="sampling")
    if not held_in_memory:  # the per-example stream that tfds and digits tasks train from
        task = dataclasses.replace(task, batches=None)
    np.testing.assert_allclose(label_shares(task), [1 / 3] * 3, atol=0.05)


def test_without_sampling_the_classes_come_as_they_are(folder_task):
    np.testing.assert_allclose(label_shares(dataclasses.replace(folder_task, balance=None)),
                               [32 / 68, 32 / 68, 4 / 68], atol=0.05)


def tiny_model(class_weights):
    model = DVNModel(["t"], [3], UnitPlan.from_rule(1, 2, "nearest"), (8, 8, 1),
                     backbone="resnet-8", base_width=4, class_weights=class_weights)
    model.build()
    return model


def test_every_levels_cross_entropy_is_weighted_by_class():
    weights = [0.5, 1.0, 4.0]
    model = tiny_model([weights])
    rng = np.random.default_rng(0)
    images = rng.normal(size=(12, 8, 8, 1)).astype("float32")
    labels = rng.integers(0, 3, 12).astype("int32")
    expected = 0.0
    for level in (1, 2):
        logits = model(images, task=0, level=level, training=True).numpy()
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        expected += np.mean(-log_probs[np.arange(12), labels] * np.take(weights, labels))
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    logs = model.train_on_batch({"t": (images, labels)}, return_dict=True)
    assert logs["loss"] == pytest.approx(expected, rel=1e-4)
    mixed = np.full((12, 3), 1 / 3, np.float32)  # a MixUp label weights by its mix of classes
    logits = model(images, task=0, level=2)
    unweighted = tiny_model(None).task_loss(mixed, logits)
    assert float(model.task_loss(mixed, logits, weights)) == pytest.approx(
        float(unweighted) * np.mean(weights), rel=1e-5)


def test_class_weights_survive_save_and_load(tmp_path):
    model = tiny_model([[0.5, 1.0, 4.0]])
    model.save(tmp_path / "m.keras")
    assert keras.saving.load_model(tmp_path / "m.keras").class_weights == [[0.5, 1.0, 4.0]]
    with pytest.raises(ValueError, match="one weight per class"):
        tiny_model([[1.0, 2.0]])


@pytest.mark.slow
def test_the_cli_balances_an_imbalanced_folder_and_says_so(tmp_path):
    root = imbalanced_folder(str(tmp_path / "shades"))
    run = command("dvn_tf.train", f"--images={root}", f"--workdir={tmp_path / 'run'}",
                  "--config.epochs=1", "--config.batch_size=16", "--config.run_eagerly=true")
    assert run.returncode == 0, run.stderr[-3000:]
    assert ("Task shades: training class sizes differ 8.0x (big: 32, small: 4); balance=auto: "
            f"{'loss weighted' if balance.AUTO_MODE == 'weights' else 'each batch'}") in run.stdout
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [entry["level"] for entry in results["entries"]] == [1, 2]
    model = keras.saving.load_model(tmp_path / "run" / "model.keras")
    assert model.class_weights == ([balance.class_weights([32, 32, 4])]
                                   if balance.AUTO_MODE == "weights" else [None])
    bad = command("dvn_tf.train", f"--images={root}", f"--workdir={tmp_path / 'bad'}",
                  "--config.balance=equal")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("dvn_tf.train: error: balance='equal'")
