"""Sequential learning and the compared methods, run in-process on the embedded digits."""

import json
import shutil

import numpy as np
import pytest

from configs import digits, digits_seq
from dvn_tf.distillation import distillation_loss
from dvn_tf.train import run

TINY = {"base_width": 8, "batch_size": 64}


def config_of(module, **overrides):
    config = module.get_config()
    config.update({**TINY, **overrides})
    return config


def accuracies(entries):
    return {(e["task"], e["level"]): e["accuracy"] for e in entries}


def test_distillation_loss_is_zero_only_when_student_matches_teacher():
    logits = np.random.default_rng(0).normal(size=(8, 5)).astype("float32")
    assert float(distillation_loss(logits, logits, 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(logits[::-1], logits, 2.0)) > 0.1


@pytest.mark.slow
def test_dvn_keeps_the_old_task_and_finetuning_forgets_it(tmp_path, capsys):
    dvn = run(config_of(digits_seq, epochs=10), str(tmp_path / "dvn"))
    after_first, after_both = (accuracies(s["entries"]) for s in dvn["stages"])
    drops = {level: after_first[("low", level)] - after_both[("low", level)] for level in (1, 2)}
    assert max(drops.values()) <= 0.03, drops
    assert all(after_both[("high", level)] >= 0.95 for level in (1, 2)), after_both

    # The same stage 1, then stage 2 without distillation.
    shutil.copytree(tmp_path / "dvn" / "stage1_low", tmp_path / "ft" / "stage1_low")
    finetune = run(config_of(digits_seq, epochs=10, method="finetune"), str(tmp_path / "ft"))
    assert "Resuming" not in capsys.readouterr().out.split("Stage 2")[0]
    ft_first, ft_both = (accuracies(s["entries"]) for s in finetune["stages"])
    assert ft_first == after_first
    ft_drops = {level: ft_first[("low", level)] - ft_both[("low", level)] for level in (1, 2)}
    assert max(ft_drops.values()) > max(drops.values()) + 0.05, (ft_drops, drops)


@pytest.mark.slow
def test_feature_extraction_leaves_the_old_task_untouched(tmp_path):
    results = run(config_of(digits_seq, epochs=2, method="feature_extraction"), str(tmp_path))
    after_first, after_both = (accuracies(s["entries"]) for s in results["stages"])
    assert all(after_both[("low", level)] == after_first[("low", level)] for level in (1, 2))
    assert set(after_both) == {("low", 1), ("low", 2), ("high", 1), ("high", 2)}


@pytest.mark.slow
def test_a_finished_stage_is_reloaded_and_a_killed_one_resumes(tmp_path, capsys):
    config = config_of(digits_seq, epochs=2)
    first = run(config, str(tmp_path))
    (tmp_path / "stage2_high" / "model.keras").unlink()  # as if killed after its last epoch
    capsys.readouterr()
    again = run(config, str(tmp_path))
    out = capsys.readouterr().out
    assert "Resuming from epoch 2 of 2" in out and out.count("Epoch 1/2") == 0
    assert accuracies(again["entries"]) == accuracies(first["entries"])
    assert json.loads((tmp_path / "results.json").read_text())["stages"] == again["stages"]


@pytest.mark.slow
def test_nested_and_independent_report_every_budget(tmp_path):
    dvn = run(config_of(digits, epochs=1), str(tmp_path / "dvn"))
    nested = run(config_of(digits, epochs=1, method="nested"), str(tmp_path / "nested"))
    independent = run(config_of(digits, epochs=1, method="independent"),
                      str(tmp_path / "independent"))
    budgets = [(e["task"], e["level"], e["params"]) for e in dvn["entries"]]
    for results in (nested, independent):
        assert [(e["task"], e["level"], e["params"]) for e in results["entries"]] == budgets
        assert all(0 <= e["accuracy"] <= 1 for e in results["entries"])
    assert [t["order"] for t in nested["tasks"]] == [[1, 2], [1, 2]]
    assert dvn["stored_params"] < nested["stored_params"] < independent["stored_params"]
    assert sorted(p.name for p in (tmp_path / "independent" / "members").iterdir()) == [
        "high_L1", "high_L2", "low_L1", "low_L2"]


def test_a_method_outside_the_scenario_kind_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'finetune' is not one of the joint"):
        run(config_of(digits, method="finetune"), str(tmp_path))
