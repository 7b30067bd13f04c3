"""The DVN model: joint train_step, exact test_step, plain twins, save/load, counts."""

import keras
import ml_collections
import numpy as np
import pytest
import tensorflow as tf

from dvn_runtime.per_class import confusion_matrix
from dvn_tf import experiment
from dvn_tf.counting import level_cost
from dvn_tf.model import DVNModel
from dvn_tf.units import UnitPlan


def tiny_dvn(backbone="resnet-8", tasks=2, units=2, rule="nearest", shape=(8, 8, 3)):
    model = DVNModel([f"t{i}" for i in range(tasks)], [3 + i for i in range(tasks)],
                     UnitPlan.from_rule(tasks, units, rule), shape, backbone=backbone,
                     base_width=units * 2, dropout=0.1 if backbone.startswith("wrn") else 0.0)
    model.build()
    return model


def fixed_batch(model, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return {f"t{t}": (rng.normal(size=(size, *model.input_shapes[t])).astype("float32"),
                      rng.integers(0, n, size).astype("int32"))
            for t, n in enumerate(model.num_classes)}


@pytest.mark.parametrize("backbone", ["resnet-8", "wrn-10-2"])
@pytest.mark.slow
def test_loss_falls_on_a_fixed_batch(backbone):
    model = tiny_dvn(backbone, tasks=3, units=3, rule="cyclic")
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    batch = fixed_batch(model)
    losses = [float(model.train_on_batch(batch, return_dict=True)["loss"]) for _ in range(25)]
    assert losses[-1] < 0.5 * losses[0], losses


def test_train_step_sums_every_task_and_level():
    model = tiny_dvn()
    batch = fixed_batch(model)
    expected = sum(model.task_loss(batch[f"t{t}"][1],
                                   model(batch[f"t{t}"][0], task=t, level=l, training=True))
                   for t in range(2) for l in (1, 2))
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    logs = model.train_on_batch(batch, return_dict=True)
    assert logs["loss"] == pytest.approx(float(expected), rel=1e-4)


def test_evaluation_counts_padding_weights_out_of_accuracy_and_confusion():
    """experiment.evaluate's accuracy and per-class figures against numpy over the model's logits."""
    model = tiny_dvn()

    class Task:
        def __init__(self, index, n):
            self.name = f"t{index}"
            rng = np.random.default_rng(index)
            self.input_shape = (8, 8, 3)
            self.test = tf.data.Dataset.from_tensor_slices(
                (rng.normal(size=(n, 8, 8, 3)).astype("float32"),
                 rng.integers(0, 3, n).astype("int32")))  # t1 has 4 classes: class 3 has none
            self.test_size = n

    tasks = [Task(0, 5), Task(1, 23)]
    model.compile()
    results = experiment.evaluate(model, tasks, ml_collections.ConfigDict({"batch_size": 1}))
    for t, task in enumerate(tasks):
        images, labels = (np.stack(a) for a in zip(*task.test.as_numpy_iterator()))
        for level in (1, 2):
            predicted = np.argmax(model(images, task=t, level=level), axis=-1)
            result = results[(f"t{t}", level)]
            assert result["accuracy"] == pytest.approx(np.mean(predicted == labels))
            confusion = confusion_matrix(labels, predicted, model.num_classes[t])
            assert result["per_class"]["confusion"] == confusion.tolist()
            assert sum(map(sum, result["per_class"]["confusion"])) == task.test_size
            for c in range(model.num_classes[t]):
                true, chosen = labels == c, predicted == c
                # Ratios are rounded to 6 decimals (dvn_runtime/per_class.py).
                assert result["per_class"]["recall"][c] == (
                    None if not true.any() else pytest.approx(np.mean(chosen[true]), abs=1e-6))
                assert result["per_class"]["precision"][c] == (
                    None if not chosen.any() else pytest.approx(np.mean(true[chosen]), abs=1e-6))
    assert results[("t1", 1)]["per_class"]["recall"][3] is None


@pytest.mark.parametrize("backbone", ["resnet-8", "wrn-10-2"])
def test_plain_twin_matches_and_params_grow_with_level(backbone):
    model = tiny_dvn(backbone, tasks=3, units=3)
    images = np.random.default_rng(3).normal(size=(4, 8, 8, 3)).astype("float32")
    for task in range(3):
        counts = []
        for level in (1, 2, 3):
            plain = model.to_plain(task, level)
            np.testing.assert_allclose(plain(images).numpy(),
                                       model(images, task=task, level=level).numpy(),
                                       rtol=1e-5, atol=1e-5)
            counts.append(level_cost(model, task, level))
        assert counts[0] < counts[1] < counts[2]


def test_save_and_load_round_trip(tmp_path):
    model = tiny_dvn("wrn-10-2")
    images = fixed_batch(model)["t1"][0]
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for level in (1, 2):
        np.testing.assert_allclose(loaded(images, task=1, level=level).numpy(),
                                   model(images, task=1, level=level).numpy(), rtol=1e-6)


def test_model_arguments_are_validated():
    with pytest.raises(ValueError, match="2 names, 1 class counts"):
        DVNModel(["a", "b"], [3], UnitPlan.from_rule(2, 2), (8, 8, 1))
    with pytest.raises(ValueError, match="'resnet-9'"):
        DVNModel(["a"], [3], UnitPlan.from_rule(1, 2), (8, 8, 1), backbone="resnet-9")
