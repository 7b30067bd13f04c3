"""Studies: seeds, a tiny study in-process checked by hand, restarts, one-line errors, the CLI."""

import ast
import json
import math
import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from configs import digits
from configs.studies.common import INPLACE_DISTILLATION
from dvn_tf.data import load_tasks
from dvn_tf.data.pipeline import training_dataset
from dvn_tf.experiment import make_model
from studies.plan import StudyError, check_study, load_study, run_config, run_dir
from studies.runner import main, run_study

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"epochs": 1, "base_width": 4, "batch_size": 32, "train_examples": 64, "run_eagerly": True}
IPD = {**TINY, **INPLACE_DISTILLATION}
STUDY = {"seeds": 2, "int8": [], "runs": [("digits", "dvn", TINY), ("digits", "dvn+ipd", IPD)]}


def test_a_seed_changes_the_initialisation_the_data_order_and_the_subset():
    def seeded(seed):
        config = digits.get_config()
        config.update({"seed": seed, "base_width": 4, "train_examples": 200})
        keras.utils.set_random_seed(seed)
        tasks = load_tasks(config)
        weights = make_model(config, tasks).get_weights()[0]
        batch = next(iter(training_dataset(tasks, 32, seed)))["low"][0].numpy()
        subset = {image.tobytes() for image, _ in tasks[0].train.as_numpy_iterator()}
        return weights, batch, subset

    (weights, batch, subset), again, other = seeded(0), seeded(0), seeded(1)
    assert np.array_equal(weights, again[0]) and not np.array_equal(weights, other[0])
    assert np.array_equal(batch, again[1]) and not np.array_equal(batch, other[1])
    assert subset == again[2] and subset != other[2]


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("study"))
    lines = []
    paths = run_study("tiny", STUDY, 2, workdir, log=lines.append)
    return workdir, paths, lines


def cell(table, label, task, level):
    """The (mean, std) of a method's row in study.md."""
    match = re.search(rf"^\| {re.escape(label)} \| {level} \| [\d,]+ \| [\d,]+ \| "
                      rf"([\d.]+) ± ([\d.]+) \|$", table.split(f"## Task {task}")[1], re.M)
    return float(match.group(1)), float(match.group(2))


@pytest.mark.slow  # the fixture trains 4 runs of 2 eager steps: about 35 s on one core
def test_a_tiny_study_reports_means_spreads_and_winners_as_computed_by_hand(tiny_study):
    workdir, paths, lines = tiny_study
    assert paths == [os.path.join(workdir, "study.md"), os.path.join(workdir, "study.png")]
    assert sum("training into" in line for line in lines) == 4
    table = open(paths[0]).read()
    assert table.startswith("# Study tiny: 4 of 4 runs finished (2 seeds)")
    accuracy = {}
    for label in ("dvn", "dvn+ipd"):
        for seed in (0, 1):
            with open(os.path.join(run_dir(workdir, "digits", label, seed), "results.json")) as f:
                for e in json.load(f)["entries"]:
                    accuracy.setdefault((label, e["task"], e["level"]), []).append(e["accuracy"])
    assert accuracy[("dvn", "low", 1)][0] != accuracy[("dvn", "low", 1)][1]  # seeds differ
    for task in ("low", "high"):
        for level in (1, 2):
            stats = {}
            for label in ("dvn", "dvn+ipd"):
                values = accuracy[(label, task, level)]
                stats[label] = (np.mean(values), np.std(values, ddof=1))
                assert cell(table, label, task, level) == pytest.approx(stats[label], abs=6e-5)
            (dvn_mean, dvn_std), (ipd_mean, ipd_std) = stats["dvn"], stats["dvn+ipd"]
            error = math.sqrt(dvn_std ** 2 / 2 + ipd_std ** 2 / 2)
            best, other = ("dvn", "dvn+ipd") if dvn_mean >= ipd_mean else ("dvn+ipd", "dvn")
            winner = f"tie: {best} = {other}" if abs(dvn_mean - ipd_mean) <= error else best
            row = re.search(rf"^\| {task} \| {level} \| ([^|]+) \|", table.split(
                "## Best method")[1], re.M).group(1).strip()
            assert row == winner, (row, stats)
    with Image.open(paths[1]) as image:
        assert image.format == "PNG" and image.size[0] > image.size[1]


@pytest.mark.slow
def test_a_restarted_study_skips_finished_runs_and_refuses_a_changed_one(tiny_study):
    workdir, _, _ = tiny_study
    lines = []
    run_study("tiny", STUDY, 2, workdir, log=lines.append)
    assert sum("finished before, skipped" in line for line in lines) == 4
    assert not any("training into" in line for line in lines)
    changed = {**STUDY, "runs": [("digits", "dvn", {**TINY, "epochs": 2})]}
    with pytest.raises(Exception, match="holds a run with another config"):
        run_study("tiny", changed, 1, workdir, log=lines.append)


@pytest.mark.parametrize("argv, message", [
    (["--study=nope"], "unknown study 'nope'; choose one of: backbones, digits, fashion"),
    (["--study=digits", "--seeds=0"], "--seeds must be at least 1"),
    (["--study=digits", "--jobs=0"], "--jobs must be at least 1, got 0"),
    ([], "the following arguments are required: --study"),
])
def test_bad_input_is_one_line(capsys, argv, message):
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


def test_the_old_command_says_where_studies_went():
    run = subprocess.run([sys.executable, "-m", "dvn_tf.study", "--study=digits"], cwd=REPO,
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and "python -m studies --study=NAME" in run.stderr


def imported_packages(path):
    """The top-level packages and the modules of `studies` that a source file imports."""
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name.startswith("studies.")} | {
        name.split(".")[0] for name in names}


def test_imports_run_one_way_training_below_export_below_studies():
    for folder, _, files in os.walk(os.path.join(REPO, "dvn_tf")):
        for name in files:
            if name.endswith(".py"):
                imports = imported_packages(os.path.join(folder, name))
                assert not imports & {"export", "studies"}, (folder, name, imports)
    assert "studies.runner" not in imported_packages(os.path.join(REPO, "studies", "report.py"))
    assert "studies.report" not in imported_packages(os.path.join(REPO, "studies", "plan.py"))


@pytest.mark.parametrize("name, methods, seeds", [
    ("fashion", ["dvn", "dvn+ipd", "nested", "independent"], 3),
    ("fashion_h", ["dvn", "dvn+ipd", "nested", "independent"], 3),
    # Forgetting with distillation, under the default stage schedule and the restarted rate,
    # against finetuning; 5 seeds, for a worst seed.
    ("fashion_seq", ["finetune", "dvn_restart", "dvn"], 5),
])
def test_a_converged_study_trains_the_methods_longer_on_more_images(name, methods, seeds):
    short, converged = load_study(name), load_study(f"{name}_converged")
    assert [label for _, label, _ in converged["runs"]] == methods
    assert converged["seeds"] == seeds
    short_runs = {label: (scenario, overrides) for scenario, label, overrides in short["runs"]}
    for scenario, label, overrides in converged["runs"]:
        config = run_config(scenario, label, overrides, 0)
        # A label the short study lacks (dvn_restart) stands for its method there.
        short_scenario, short_overrides = short_runs.get(label) or short_runs[config.method]
        assert scenario == short_scenario
        assert config.train_examples >= 6_000 and config.base_width == 16
        assert config.epochs > run_config(scenario, label, short_overrides, 0).epochs
        assert {task["augment"] for task in config.tasks} == {"none"}


def test_an_export_list_naming_no_run_is_refused():
    study = {"seeds": 1, "float": ["dvn", "resnet"], "runs": [("digits", "dvn", {})]}
    with pytest.raises(StudyError, match="^float names 'resnet', which no run has$"):
        check_study(study)


@pytest.mark.slow
def test_the_cli_runs_the_digits_study_with_its_int8_export(tmp_path):
    command = [sys.executable, "-m", "studies", "--study=digits", "--seeds=1",
               f"--workdir={tmp_path}"]
    run = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=900)
    assert run.returncode == 0, run.stderr
    assert "[2/2] seed 0, digits, dvn+ipd: done" in run.stdout
    table = (tmp_path / "study.md").read_text()
    assert "### dvn: float vs int8 (post-training, --quantize=int8), 1 seed" in table
    assert "| low | 1 | none yet: 1 seed, no spread |" in table  # one seed picks no winner
    manifest = json.loads((tmp_path / "digits" / "dvn" / "seed0" / "tflite_int8" /
                           "manifest.json").read_text())
    low_1 = next(m for m in manifest["models"] if (m["task"], m["level"]) == ("low", 1))
    assert (f"| low | 1 | 5,225 | {low_1['accuracy_keras']:.4f} (1 seed) | "
            f"{low_1['accuracy_tflite']:.4f} (1 seed) |") in table
    assert (tmp_path / "study.png").stat().st_size > 10_000


def test_a_sequential_study_reports_accuracy_after_every_stage_and_forgetting(tmp_path):
    """study.md of two seeds' finished sequential runs (results.json as dvn_tf.train writes them)."""
    after = {"dvn": [(0.80, 0.78), (0.84, 0.79)], "finetune": [(0.82, 0.30), (0.80, 0.20)]}
    study = {"seeds": 2, "int8": [], "runs": [("digits_seq", m, {}) for m in after]}
    for method, seeds in after.items():
        for seed, (first, last) in enumerate(seeds):
            old = {"task": "low", "level": 1, "units": [1], "params": 5, "flops": 9}
            new = {**old, "task": "high", "accuracy": 0.9}
            stages = [{"after_task": "low", "entries": [{**old, "accuracy": first}]},
                      {"after_task": "high", "entries": [{**old, "accuracy": last}, new]}]
            directory = run_dir(str(tmp_path), "digits_seq", method, seed)
            os.makedirs(directory)
            with open(os.path.join(directory, "results.json"), "w") as file:
                json.dump({"scenario": "digits_seq", "method": method, "stored_params": 7,
                           "train_seconds": 1.0, "entries": stages[-1]["entries"],
                           "stages": stages}, file)
    run_study("seq", study, 2, str(tmp_path), log=lambda line: None)  # everything finished
    table = (tmp_path / "study.md").read_text()
    for method, seeds in after.items():
        firsts, lasts = np.array(seeds).T
        row = (f"| {method} | low | 1 | {firsts.mean():.4f} ± {firsts.std(ddof=1):.4f} | "
               f"{lasts.mean():.4f} ± {lasts.std(ddof=1):.4f} | "
               f"{(firsts - lasts).mean():+.4f} ± {(firsts - lasts).std(ddof=1):.4f} |")
        assert row in table


def test_a_study_reports_float_latency_and_accuracy_per_ms_from_its_manifests(tmp_path):
    """study.md's latency tables from two seeds' runs and float exports, written by hand."""
    # (LiteRT accuracy, latency in ms) of each (task, level), per method and seed.
    measured = {
        "dvn": [{("low", 1): (0.80, 0.20), ("low", 2): (0.90, 0.40), ("high", 1): (0.9, 0.30)},
                {("low", 1): (0.82, 0.25), ("low", 2): (0.88, 0.40), ("high", 1): (0.9, 0.25)}],
        "dvn-small": [
            {("low", 1): (0.70, 0.10), ("low", 2): (0.85, 0.50), ("high", 1): (0.9, 0.28)},
            {("low", 1): (0.74, 0.10), ("low", 2): (0.87, 0.45), ("high", 1): (0.9, 0.30)}]}
    study = {"seeds": 2, "float": list(measured),
             "runs": [("digits", method, {}) for method in measured]}
    for method, seeds in measured.items():
        for seed, levels in enumerate(seeds):
            directory = run_dir(str(tmp_path), "digits", method, seed)
            os.makedirs(os.path.join(directory, "tflite_float"))
            cost = {"params": 5, "flops": 9}
            with open(os.path.join(directory, "results.json"), "w") as file:
                json.dump({"scenario": "digits", "method": method, "stored_params": 7,
                           "train_seconds": 1.0, "entries": [
                               {"task": t, "level": l, "units": [1], "accuracy": a, **cost}
                               for (t, l), (a, _) in levels.items()]}, file)
            with open(os.path.join(directory, "tflite_float", "manifest.json"), "w") as file:
                json.dump({"models": [{"task": t, "level": l, "accuracy_tflite": a,
                                       "latency_ms": ms, **cost}
                                      for (t, l), (a, ms) in levels.items()]}, file)
    lines = []
    run_study("latency", study, 2, str(tmp_path), log=lines.append)
    assert sum("finished before, skipped" in line for line in lines) == 4  # no export redone
    table = (tmp_path / "study.md").read_text()

    def spread(values):
        return f"{np.mean(values):.4f} ± {np.std(values, ddof=1):.4f}"

    for method, seeds in measured.items():
        for key in seeds[0]:
            accuracy, latency = np.array([levels[key] for levels in seeds]).T
            assert (f"| {key[0]} | {key[1]} | {method} | 5 | 9 | {spread(accuracy)} | "
                    f"{spread(latency)} | {spread(accuracy / latency)} |") in table
    # Accuracy per ms, mean (std): low 1: dvn 3.64 (0.51), dvn-small 7.2 (0.28), apart;
    # low 2: 2.225 (0.035) vs 1.817 (0.165), apart; high 1: 3.3 (0.42) vs 3.107 (0.15),
    # 0.19 apart with a standard error of the difference of 0.32: a tie.
    best = table.split("### Most accuracy per ms per task and level")[1]
    assert "| low | 1 | dvn-small | 7.2000 | dvn 3.6400 (+3.5600) |" in best
    assert "| low | 2 | dvn | 2.2250 | dvn-small 1.8167 (+0.4083) |" in best
    assert "| high | 1 | tie: dvn = dvn-small | 3.3000 | - |" in best


def write_results_by_hand(workdir, method, seed, accuracy, curve=(), recall=None):
    """A finished digits run's results.json: task `low`, {level: accuracy}, level 1's curve.

    `recall` ({level: per-class recall of classes a, b, c}) adds per_class and the labels.
    """
    directory = run_dir(str(workdir), "digits", method, seed)
    os.makedirs(directory)
    entries = [{"task": "low", "level": level, "units": list(range(1, level + 1)),
                "params": 5 * level, "flops": 9 * level, "accuracy": value,
                "accuracy_by_epoch": list(curve) if level == 1 else []}
               for level, value in accuracy.items()]
    results = {"scenario": "digits", "method": method, "stored_params": 7,
               "train_seconds": 1.0, "entries": entries}
    if recall is not None:
        results["tasks"] = [{"name": "low", "num_classes": 3, "labels": ["a", "b", "c"]}]
        for entry in entries:
            entry["per_class"] = {"recall": recall[entry["level"]]}
    with open(os.path.join(directory, "results.json"), "w") as file:
        json.dump(results, file)


def test_a_study_compares_its_pairs_of_methods_per_budget_in_standard_errors(tmp_path):
    accuracy = {"dvn": [{1: 0.80, 2: 0.90}, {1: 0.82, 2: 0.91}, {1: 0.81, 2: 0.89}],
                "nested": [{1: 0.70, 2: 0.90}, {1: 0.72, 2: 0.92}, {1: 0.71, 2: 0.88}],
                "dvn+ipd": [{1: 0.81, 2: 0.90}, {1: 0.80, 2: 0.90}, {1: 0.83, 2: 0.91}]}
    pairs = [("dvn", "nested"), ("dvn+ipd", "dvn")]
    study = {"seeds": 3, "int8": [], "pairs": pairs,
             "runs": [("digits", method, {}) for method in accuracy]}
    for method, seeds in accuracy.items():
        for seed, levels in enumerate(seeds):
            write_results_by_hand(tmp_path, method, seed, levels)
    run_study("pairs", study, 3, str(tmp_path), log=lambda line: None)
    table = (tmp_path / "study.md").read_text().split("### Method against method")[1]
    verdicts = {}
    for method, against in pairs:
        for level in (1, 2):
            ours, theirs = ([seeds[level] for seeds in accuracy[m]] for m in (method, against))
            difference = np.mean(ours) - np.mean(theirs)
            error = math.sqrt(np.var(ours, ddof=1) / 3 + np.var(theirs, ddof=1) / 3)
            row = re.search(rf"^\| {re.escape(method)} - {against} \| low \| {level} \| "
                            rf"{5 * level} / {5 * level} \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$",
                            table, re.M)
            assert float(row.group(1)) == pytest.approx(100 * difference, abs=0.006)
            assert float(row.group(2)) == pytest.approx(difference / error, abs=0.06)
            verdicts[(method, level)] = row.group(3).strip()
    assert verdicts == {("dvn", 1): "dvn ahead", ("dvn", 2): "tie",
                        ("dvn+ipd", 1): "tie", ("dvn+ipd", 2): "tie"}


def test_a_pair_naming_no_run_is_refused():
    study = {"seeds": 1, "pairs": [("dvn", "nested")], "runs": [("digits", "dvn", {})]}
    with pytest.raises(StudyError, match="^pair dvn - nested names 'nested', which no run has$"):
        check_study(study)


def test_a_study_lists_the_held_out_accuracy_of_the_last_epochs_and_its_gain(tmp_path):
    """study.md's convergence table from two seeds' curves (results.json written by hand)."""
    curves = {"dvn": [[0.5, 0.6, 0.7, 0.8, 0.85, 0.86, 0.87],
                      [0.4, 0.6, 0.7, 0.8, 0.83, 0.84, 0.85]],
              "nested": [[0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.61],
                         [0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.59]]}
    study = {"seeds": 2, "int8": [], "runs": [("digits", method, {}) for method in curves]}
    for method, seeds in curves.items():
        for seed, curve in enumerate(seeds):
            write_results_by_hand(tmp_path, method, seed, {1: curve[-1]}, curve)
    run_study("curves", study, 2, str(tmp_path), log=lambda line: None)  # everything finished
    table = (tmp_path / "study.md").read_text().split(
        "### Held-out accuracy over the last epochs")[1]
    for method, seeds in curves.items():
        last = np.mean(np.array(seeds)[:, -5:], axis=0)  # epochs 3..7, mean over the two seeds
        gain = np.array(seeds)[:, -1] - np.array(seeds)[:, -4]
        row = (f"| {method} | low | 1 | 7 | {', '.join(f'{m:.4f}' for m in last)} | "
               f"{gain.mean():+.4f} ± {gain.std(ddof=1):.4f} |")
        assert row in table, table


@pytest.mark.slow  # two processes each start TensorFlow: 40 s idle, 160 s under a load of 9
def test_two_jobs_train_two_runs_side_by_side_each_in_its_own_process(tmp_path):
    """--jobs=2 on two tiny runs: both start before either ends, in two child processes."""
    study = {"seeds": 1, "int8": [], "runs": [("digits", "dvn", TINY), ("digits", "dvn+ipd", IPD)]}
    lines = []
    run_study("pair", study, 1, str(tmp_path), log=lines.append, jobs=2)
    starts = [i for i, line in enumerate(lines) if " trains into " in line]
    ends = [i for i, line in enumerate(lines) if ": done in " in line]
    assert len(starts) == len(ends) == 2 and starts[1] < ends[0], lines
    pids = {re.search(r"process (\d+) ", lines[i]).group(1) for i in starts}
    assert len(pids) == 2 and str(os.getpid()) not in pids
    assert (tmp_path / "study.md").read_text().startswith("# Study pair: 2 of 2 runs finished")
    for label in ("dvn", "dvn+ipd"):
        directory = run_dir(str(tmp_path), "digits", label, 0)
        assert "training into" in open(os.path.join(directory, "study.log")).read()


def test_a_study_reports_the_worst_class_recall_per_method_and_budget(tmp_path):
    """study.md's worst-class table from three seeds' per-class recall (written by hand)."""
    recall = {"dvn": [{1: [0.9, 0.2, 0.8], 2: [0.9, 0.7, None]},
                      {1: [0.9, 0.4, 0.8], 2: [0.6, 0.8, 0.9]},
                      {1: [0.3, 0.6, 0.8], 2: [0.9, 0.85, 0.8]}],
              "nested": [{1: [1.0, 1.0, 1.0]}] * 3}  # old runs without per_class are left out
    study = {"seeds": 3, "int8": [], "runs": [("digits", m, {}) for m in ("dvn", "nested", "old")]}
    for method, seeds in recall.items():
        for seed, levels in enumerate(seeds):
            write_results_by_hand(tmp_path, method, seed, {level: 0.8 for level in levels},
                                  recall=levels)
    for seed in range(3):
        write_results_by_hand(tmp_path, "old", seed, {1: 0.8})
    run_study("worst", study, 3, str(tmp_path), log=lambda line: None)
    table = (tmp_path / "study.md").read_text().split("### Worst class per budget")[1]
    table = table.split("###")[0]
    level1, level2 = [0.2, 0.4, 0.3], [0.7, 0.6, 0.8]  # each seed's lowest known recall
    assert (f"| dvn | low | 1 | 5 | {np.mean(level1):.4f} ± {np.std(level1, ddof=1):.4f} | "
            f"b (2), a (1) |") in table, table
    assert (f"| dvn | low | 2 | 10 | {np.mean(level2):.4f} ± {np.std(level2, ddof=1):.4f} | "
            f"b (1), a (1), c (1) |") in table, table
    assert "| nested | low | 1 | 5 | 1.0000 ± 0.0000 | a (3) |" in table, table
    assert "| old |" not in table
