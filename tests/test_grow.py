"""`python -m dvn_tf.train --from=RUN ...`: a finished run grows a task, RUN untouched, as a user runs it."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train(*args):
    return subprocess.run([sys.executable, "-m", "dvn_tf.train", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


def fingerprint(directory):
    """{relative path: sha256} of every file under directory."""
    found = {}
    for folder, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as file:
                found[os.path.relpath(path, directory)] = hashlib.sha256(file.read()).hexdigest()
    return found


def write_parity_folder(root, per_class=150):
    """root/even and root/odd: 8x8 grayscale PNGs of the embedded digits (0-16 scaled to 0-255)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for name, wanted in (("even", 0), ("odd", 1)):
        os.makedirs(os.path.join(root, name))
        chosen = np.flatnonzero(digits.target % 2 == wanted)[:per_class]
        for number, index in enumerate(chosen):
            pixels = np.clip(digits.images[index] * 16, 0, 255).astype(np.uint8)
            Image.fromarray(pixels, "L").save(os.path.join(root, name, f"{number:03d}.png"))


@pytest.fixture(scope="module")
def parity_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity") / "parity"
    write_parity_folder(str(root))
    return root


@pytest.fixture(scope="module")
def grown_run(digits_run, parity_folder, tmp_path_factory):
    """digits_run grown by the parity folder task, 4 epochs: (workdir, stdout, RUN's files before)."""
    before = fingerprint(digits_run)
    workdir = tmp_path_factory.mktemp("grown") / "run"
    run = train(f"--from={digits_run}", f"--images={parity_folder}", f"--workdir={workdir}",
                "--config.epochs=4")
    assert run.returncode == 0, run.stderr[-3000:]
    return workdir, run.stdout, before


def test_a_folder_task_joins_a_finished_run_and_the_run_is_not_written(digits_run, grown_run):
    workdir, stdout, before = grown_run
    assert fingerprint(digits_run) == before
    results = json.loads((workdir / "results.json").read_text())
    old = json.loads((digits_run / "results.json").read_text())
    assert [(t["name"], t["num_classes"]) for t in results["tasks"]] == [
        ("low", 5), ("high", 5), ("parity", 2)]
    # k = 2 units: the third task starts again at unit 1 (docs/choices.md).
    assert [t["order"] for t in results["tasks"]] == [[1, 2], [2, 1], [1, 2]]
    growth = results["growth"]
    assert growth["from"] == str(digits_run) and growth["new_tasks"] == ["parity"]
    assert growth["unreadable"] == []
    measured_then = {(e["task"], e["level"]): e["accuracy"] for e in old["entries"]}
    rows = {(row["task"], row["level"]): row for row in growth["old_tasks"]}
    assert set(rows) == set(measured_then)
    for key, row in rows.items():
        assert row["before"] == pytest.approx(measured_then[key], abs=1e-6)
        assert row["after"] > row["before"] - 0.1, (key, row)
    after = {(e["task"], e["level"]): e["accuracy"] for e in results["entries"]}
    assert min(after[("parity", level)] for level in (1, 2)) > 0.6  # chance: 0.5
    assert "| old task | level | before | after | change |" in stdout
    assert "Warm-up: 1 epoch(s) of the heads and batch norms of parity alone" in stdout


def test_a_grown_run_grows_again_and_exports_every_task(digits_run, grown_run, tmp_path):
    grown, _, _ = grown_run
    again = tmp_path / "again"
    spec = json.dumps({"name": "pairs", "dataset": "digits", "classes": [0, 1]})
    # Structure, not learning: one eager step of 64 images.
    run = train(f"--from={grown}", f"--task={spec}", f"--workdir={again}", "--config.epochs=1",
                "--config.train_examples=64", "--config.run_eagerly=true")
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((again / "results.json").read_text())
    assert [t["name"] for t in results["tasks"]] == ["low", "high", "parity", "pairs"]
    assert {row["task"] for row in results["growth"]["old_tasks"]} == {"low", "high", "parity"}
    export = subprocess.run([sys.executable, "-m", "export", f"--workdir={again}",
                             "--layout=shared", "--runs=3"], cwd=REPO, capture_output=True,
                            text=True, stdin=subprocess.DEVNULL)
    assert export.returncode == 0, export.stderr[-3000:]
    manifest = json.loads((again / "tflite" / "manifest.json").read_text())
    assert [t["name"] for t in manifest["tasks"]] == ["low", "high", "parity", "pairs"]
    assert manifest["tasks"][2]["labels"] == ["even", "odd"]
    assert {(m["task"], m["level"]) for m in manifest["models"]} == {
        (task, level) for task in ("low", "high", "parity", "pairs") for level in (1, 2)}


def unfinished(run, tmp_path):
    """A copy of the run without its model: a run killed before it finished."""
    copy = tmp_path / "unfinished"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("tflite", "checkpoints", "tensorboard"))
    os.remove(copy / "model.keras")
    return copy


@pytest.mark.parametrize("flags, message", [
    (["--images=low={folder}"], "task 'low' is already one of {run}'s tasks (low, high)"),
    (["--images={folder}", "--config.units=3"],
     "a grown run keeps the network of {run}: drop --config.units=3 (RUN has 2)"),
    (["--images={folder}", "--config.backbone=resnet-20"],
     "drop --config.backbone='resnet-20' (RUN has 'resnet-8')"),
    ([], "--from adds tasks to a run: pass --images=[NAME=]PATH or --task=JSON"),
    (["--task=shoes"], "--task=shoes: not JSON"),
    (["--images={folder}", "--scenario=digits"], "drop --scenario"),
    (["--images={folder}", "--workdir={run}/more"], "is inside --from={run}, which is never written"),
    (["--images={folder}", "--from_unfinished"], "is not a finished run (it has no model.keras)"),
])
def test_what_it_cannot_grow_is_one_line_before_anything_is_written(
        digits_run, parity_folder, tmp_path, flags, message):
    run = digits_run
    if "--from_unfinished" in flags:
        run, flags = unfinished(digits_run, tmp_path), [f for f in flags if f != "--from_unfinished"]
    before = fingerprint(run)
    workdir = tmp_path / "new"
    flags = [f.format(folder=parity_folder, run=run) for f in flags]
    if not any(f.startswith("--workdir") for f in flags):
        flags.append(f"--workdir={workdir}")
    result = train(f"--from={run}", *flags)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message.format(run=run) in lines[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not workdir.exists() and not (run / "more").exists()
    assert fingerprint(run) == before
