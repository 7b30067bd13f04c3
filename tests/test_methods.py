"""Sequential learning and the compared methods, run in-process on the embedded digits.

The DVN's sequential run is the session's `digits_seq_run` (tests/conftest.py):
finetune and feature extraction start from a copy of its first stage, and the
resume test from a copy of the whole run.
"""

import json
import shutil

import numpy as np
import pytest

from configs import digits, digits_seq
from conftest import ONE_EAGER_STEP, SEQUENTIAL_RUN
from dvn_tf.distillation import distillation_loss
from dvn_tf.train import run

TINY = {"base_width": 8, "batch_size": 64}


def config_of(module, **overrides):
    config = module.get_config()
    config.update({**TINY, **overrides})
    return config


def accuracies(entries):
    return {(e["task"], e["level"]): e["accuracy"] for e in entries}


def assert_confusion_matches_accuracy(entries):
    """Every entry's confusion matrix (per_class) gives its accuracy."""
    for e in entries:
        confusion = e["per_class"]["confusion"]
        hits = sum(confusion[c][c] for c in range(len(confusion)))
        assert hits / sum(map(sum, confusion)) == pytest.approx(e["accuracy"]), e


def test_distillation_loss_is_zero_only_when_student_matches_teacher():
    logits = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")
    assert float(distillation_loss(logits, logits, 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(logits[::-1], logits, 2.0)) > 0.1


def one_step_updates(shared_rate_fraction):
    """[(change, whether the new task's own)] of every trainable variable after one SGD step of
    a later stage on a small DVN."""
    import keras

    from dvn_tf.distillation import SequentialTrainer
    from test_export_helpers import small_dvn

    student, teacher = (small_dvn("resnet-8", num_tasks=2, units=2, seed=1) for _ in "st")
    trainer = SequentialTrainer(student, teacher, old_tasks=[0], new_tasks=[1],
                                shared_rate_fraction=shared_rate_fraction)
    trainer.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
    rng = np.random.default_rng(0)
    batch = {"t1": (rng.normal(size=(4, 8, 8, 3)).astype("float32"), np.array([0, 1, 2, 3]))}
    before = [np.array(v) for v in student.trainable_variables]
    trainer.train_on_batch(batch)
    own = {id(v) for v in student.task_private_variables([1])}
    return [(np.array(v) - start, id(v) in own)
            for v, start in zip(student.trainable_variables, before)]


def test_a_later_stage_steps_the_shared_units_at_their_fraction_of_the_rate():
    full, slow = one_step_updates(1.0), one_step_updates(0.3)
    moved = [(index, own) for index, (change, own) in enumerate(full) if np.abs(change).max() > 0]
    assert {own for _, own in moved} == {True, False}  # both kinds of variable learn
    for index, own in moved:
        expected = full[index][0] * (1.0 if own else 0.3)
        np.testing.assert_allclose(slow[index][0], expected, rtol=1e-3, atol=1e-6)


def sequential_config(**overrides):
    """digits_seq as the session's `digits_seq_run` trained it, with overrides."""
    config = digits_seq.get_config()
    config.update({**SEQUENTIAL_RUN, **overrides})
    return config


def results_of(workdir):
    return json.loads((workdir / "results.json").read_text())


def from_its_first_stage(digits_seq_run, workdir):
    """workdir holding a copy of the session run's finished stage 1, as a new method's start."""
    shutil.copytree(digits_seq_run / "stage1_low", workdir / "stage1_low")
    return str(workdir)


def test_dvn_keeps_the_old_task_and_finetuning_forgets_it(digits_seq_run, tmp_path, capsys):
    dvn = results_of(digits_seq_run)
    after_first, after_both = (accuracies(s["entries"]) for s in dvn["stages"])
    drops = {level: after_first[("low", level)] - after_both[("low", level)] for level in (1, 2)}
    assert max(drops.values()) <= 0.03, drops
    assert all(after_both[("high", level)] >= 0.95 for level in (1, 2)), after_both
    for stage in dvn["stages"]:
        assert_confusion_matches_accuracy(stage["entries"])

    # The same stage 1, then stage 2 without distillation, every variable from the peak rate.
    finetune = run(sequential_config(method="finetune", stage_warmup_epochs=0,
                                     stage_shared_rate_fraction=1.0),
                   from_its_first_stage(digits_seq_run, tmp_path))
    assert "Resuming" not in capsys.readouterr().out.split("Stage 2")[0]
    ft_first, ft_both = (accuracies(s["entries"]) for s in finetune["stages"])
    assert ft_first == after_first
    ft_drops = {level: ft_first[("low", level)] - ft_both[("low", level)] for level in (1, 2)}
    assert max(ft_drops.values()) > max(drops.values()) + 0.05, (ft_drops, drops)


def test_feature_extraction_leaves_the_old_task_untouched(digits_seq_run, tmp_path):
    results = run(sequential_config(epochs=2, method="feature_extraction"),
                  from_its_first_stage(digits_seq_run, tmp_path))
    after_first, after_both = (accuracies(s["entries"]) for s in results["stages"])
    assert all(after_both[("low", level)] == after_first[("low", level)] for level in (1, 2))
    assert set(after_both) == {("low", 1), ("low", 2), ("high", 1), ("high", 2)}


def test_a_finished_stage_is_reloaded_and_a_killed_one_resumes(digits_seq_run, tmp_path, capsys):
    shutil.copytree(digits_seq_run, tmp_path, dirs_exist_ok=True)
    first = results_of(tmp_path)
    (tmp_path / "stage2_high" / "model.keras").unlink()  # as if killed after its last epoch
    capsys.readouterr()
    again = run(sequential_config(), str(tmp_path))
    out = capsys.readouterr().out
    epochs = SEQUENTIAL_RUN["epochs"] - 1  # stage 2's first epoch is its warm-up
    assert f"Resuming from epoch {epochs} of {epochs}" in out
    assert out.count(f"Epoch 1/{epochs}") == 0
    assert accuracies(again["entries"]) == accuracies(first["entries"])
    assert results_of(tmp_path)["stages"] == again["stages"]


def test_nested_and_independent_report_every_budget(digits_seq_run, tmp_path):
    """Against the DVN of the session's sequential run: the same network as joint digits'."""
    dvn = results_of(digits_seq_run)
    nested = run(config_of(digits, method="nested", **ONE_EAGER_STEP), str(tmp_path / "nested"))
    independent = run(config_of(digits, method="independent", **ONE_EAGER_STEP),
                      str(tmp_path / "independent"))
    budgets = [(e["task"], e["level"], e["params"]) for e in dvn["entries"]]
    for results in (nested, independent):
        assert [(e["task"], e["level"], e["params"]) for e in results["entries"]] == budgets
        assert all(0 <= e["accuracy"] <= 1 for e in results["entries"])
        assert_confusion_matches_accuracy(results["entries"])
    assert [t["order"] for t in nested["tasks"]] == [[1, 2], [1, 2]]
    assert dvn["stored_params"] < nested["stored_params"] < independent["stored_params"]
    assert sorted(p.name for p in (tmp_path / "independent" / "members").iterdir()) == [
        "high_L1", "high_L2", "low_L1", "low_L2"]


def test_a_method_outside_the_scenario_kind_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'finetune' is not one of the joint"):
        run(config_of(digits, method="finetune"), str(tmp_path))
