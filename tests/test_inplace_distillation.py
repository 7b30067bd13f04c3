"""In-place distillation: a term of Eq. 2's summed loss, with no gradient to the top level."""

import numpy as np
import pytest
import tensorflow as tf

from dvn_tf.model import DVNModel, distillation_loss
from dvn_tf.units import UnitPlan

WEIGHT, TEMPERATURE = 0.7, 2.0


@pytest.fixture(scope="module")
def model():
    """A tiny DVN with in-place distillation on."""
    model = DVNModel(["t0", "t1"], [3, 4], UnitPlan.from_rule(2, 2, "nearest"), (8, 8, 3),
                     backbone="resnet-8", base_width=4, inplace_distill_weight=WEIGHT,
                     inplace_distill_temperature=TEMPERATURE)
    model.build()
    return model


def batch_of(model):
    rng = np.random.default_rng(0)
    return {f"t{t}": (rng.normal(size=(16, 8, 8, 3)).astype("float32"),
                      rng.integers(0, n, 16).astype("int32"))
            for t, n in enumerate(model.num_classes)}


def logits_of(model, batch):
    """{(task, level): logits} in training mode, as the train step computes them."""
    return {(t, level): model(batch[f"t{t}"][0], task=t, level=level, training=True)
            for t in range(2) for level in (1, 2)}


def eq2(model, batch, logits):
    """Eq. 2 summed by hand, in the model's order: task, then level."""
    total = 0.0
    for t in range(2):
        for level in (1, 2):
            total += model.task_loss(batch[f"t{t}"][1], logits[(t, level)])
    return total


def test_off_the_loss_is_eq2_exactly(model):
    off = DVNModel.from_config(model.get_config() | {"inplace_distill_weight": 0.0})
    off.build()
    off.set_weights(model.get_weights())
    batch = batch_of(off)
    assert float(off.hierarchy_loss(batch, training=True)) == float(
        eq2(off, batch, logits_of(off, batch)))


def test_on_the_loss_is_eq2_plus_the_weighted_kd_to_the_top_level(model):
    batch = batch_of(model)
    logits = logits_of(model, batch)
    expected = eq2(model, batch, logits) + WEIGHT * sum(
        distillation_loss(logits[(t, 1)], logits[(t, 2)], TEMPERATURE) for t in range(2))
    assert float(expected) > float(eq2(model, batch, logits)) + 1e-4  # the term is not zero
    assert float(model.hierarchy_loss(batch, training=True)) == pytest.approx(
        float(expected), rel=1e-6)


def test_the_teacher_gets_no_gradient_from_the_term_and_the_student_does(model):
    batch = batch_of(model)
    with tf.GradientTape(persistent=True) as tape:
        logits = logits_of(model, batch)
        term = model.inplace_distillation({1: logits[(0, 1)], 2: logits[(0, 2)]})
    teacher, student = tape.gradient(term, [logits[(0, 2)], logits[(0, 1)]])
    assert teacher is None
    assert float(tf.reduce_sum(tf.abs(student))) > 0.0
