"""The train CLI as a user runs it: a full tiny run, errors, seeding, resume after kill."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--config.base_width=8", "--config.batch_size=64"]


def train(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "dvn_tf.train", *args], cwd=REPO,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs)


@pytest.mark.slow
def test_tiny_digits_run_writes_results(tmp_path):
    run = train(f"--workdir={tmp_path}", "--config.epochs=2", *TINY)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["scenario"] == "digits" and results["method"] == "dvn"
    assert [t["order"] for t in results["tasks"]] == [[1, 2], [2, 1]]
    entries = {(e["task"], e["level"]): e for e in results["entries"]}
    assert set(entries) == {("low", 1), ("low", 2), ("high", 1), ("high", 2)}
    assert entries[("high", 1)]["units"] == [2]
    for task in ("low", "high"):
        assert entries[(task, 1)]["params"] < entries[(task, 2)]["params"]
        assert entries[(task, 1)]["flops"] < entries[(task, 2)]["flops"]
        assert all(0.5 < entries[(task, level)]["accuracy"] <= 1 for level in (1, 2))
    labels = {t["name"]: t["labels"] for t in results["tasks"]}
    assert labels == {"low": ["0", "1", "2", "3", "4"], "high": ["5", "6", "7", "8", "9"]}
    for (task, level), e in entries.items():  # confusion[true][predicted], classes in logit order
        confusion = e["per_class"]["confusion"]
        assert len(confusion) == len(labels[task]) and all(len(row) == 5 for row in confusion)
        assert [sum(row) for row in confusion] == [sum(row) for row in entries[(task, 1)]
                                                   ["per_class"]["confusion"]]  # held-out counts
        assert sum(confusion[c][c] for c in range(5)) / sum(map(sum, confusion)) == \
            pytest.approx(e["accuracy"])
        assert e["per_class"]["recall"] == [round(confusion[c][c] / sum(confusion[c]), 6)
                                            for c in range(5)]
    markdown = (tmp_path / "results.md").read_text()
    assert "Significance" in markdown
    assert "| task | level | worst class | its recall |" in markdown
    assert "### high, level 2" in markdown and "| class | examples | predicted |" in markdown
    assert "unit 1  unit 2" in run.stdout
    assert (tmp_path / "model.keras").exists()
    assert any(name.startswith("events") for _, _, files in os.walk(tmp_path / "tensorboard")
               for name in files)


@pytest.mark.parametrize("args, message", [
    (["--scenario=nope"], "unknown scenario 'nope'; choose one of"),
    (["--bogus=1"], "Unknown command line flag 'bogus'"),
    (["--config.nonexistent=3"], "unknown config field 'nonexistent'"),
    (["--config.epochs=abc"], "--config.epochs=abc"),
    (["--workdir=/proc/forbidden/run"], "cannot write to workdir"),
    (["--config.order_rule=spiral", "--workdir={tmp}"], "got 'spiral'"),
    (["stray"], "unexpected arguments"),
])
def test_bad_input_gives_one_line_and_nonzero_exit(tmp_path, args, message):
    run = train(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert run.returncode != 0
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], run.stderr[-2000:]
    assert "Traceback" not in run.stderr


@pytest.mark.slow
def test_same_seed_same_results_other_seed_other_split(tmp_path):
    from configs import digits
    from dvn_tf.train import run

    runs = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        config = digits.get_config()
        config.update({"epochs": 1, "seed": seed, "base_width": 8, "batch_size": 64})
        runs.append([e["accuracy"] for e in run(config, str(tmp_path / name))["entries"]])
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


@pytest.mark.slow
def test_killed_run_resumes_from_last_epoch(tmp_path):
    args = [sys.executable, "-m", "dvn_tf.train", f"--workdir={tmp_path}", "--config.epochs=6",
            *TINY]
    process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    metadata = tmp_path / "checkpoints" / "training_metadata.json"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if metadata.exists() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 2:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = json.loads(metadata.read_text())["epoch"]
    assert 2 <= done < 6 and not (tmp_path / "results.json").exists()
    run = train(f"--workdir={tmp_path}", "--config.epochs=6", *TINY)
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"Resuming from epoch {done} of 6" in run.stdout
    assert "Epoch 1/6" not in run.stdout and "Epoch 6/6" in run.stdout
    results = json.loads((tmp_path / "results.json").read_text())
    for e in results["entries"]:  # the epochs before the kill are kept, the last one is the final
        assert len(e["accuracy_by_epoch"]) == 6 and e["accuracy_by_epoch"][-1] == e["accuracy"]


def test_resuming_with_another_config_is_refused(tmp_path, digits_run):
    from conftest import DIGITS_RUN_EPOCHS
    from configs import digits
    from dvn_tf.train import check_same_run

    (tmp_path / "config.json").write_text((digits_run / "config.json").read_text())
    same = digits.get_config()
    same.epochs = DIGITS_RUN_EPOCHS
    check_same_run(same, str(tmp_path))  # the run's own config resumes (no exit)
    run = train(f"--workdir={tmp_path}", f"--config.epochs={DIGITS_RUN_EPOCHS}", "--config.seed=9")
    assert run.returncode == 2 and "holds a run with another config" in run.stderr


def test_a_run_saved_before_a_config_field_existed_resumes_at_its_default(tmp_path):
    from configs import digits
    from dvn_tf.train import holds_another_run

    config = digits.get_config()
    older = json.loads(config.to_json())
    del older["width_multiplier"]  # a field the project added after this run was saved
    (tmp_path / "config.json").write_text(json.dumps(older))
    assert not holds_another_run(config, str(tmp_path))
    config.width_multiplier = 0.5
    assert holds_another_run(config, str(tmp_path))
    config.width_multiplier = digits.get_config().width_multiplier
    config.epochs += 1  # a field the run has, changed
    assert holds_another_run(config, str(tmp_path))
