"""The runtime on the shared layout: cut-out levels, refusals, and several tasks under one budget."""

import os
import re
import shutil
import threading

import pytest

from dvn_runtime import ModelLoadError, TaskRuntime, load_manifest
from dvn_runtime.multitask import MultiTaskRuntime, joint_ladder
from runtime_helpers import damage_block_of, run_cli


def samples(export_dir, task):
    directory = os.path.join(export_dir, "samples", task)
    return [os.path.join(directory, name) for name in sorted(os.listdir(directory))]


@pytest.mark.slow
def test_each_level_of_the_shared_layout_classifies_like_its_own_file(digits_export,
                                                                      digits_shared_export):
    images = samples(digits_shared_export.tflite, "high")[:4]
    with TaskRuntime(load_manifest(digits_shared_export.tflite), "high") as shared, \
            TaskRuntime(load_manifest(digits_export.tflite), "high") as per_level:
        for level in (2, 1, 2):
            assert shared.force_level(level).to_level == level
            per_level.force_level(level)
            for image in images:
                got, expected = shared.classify(image), per_level.classify(image)
                assert [label for label, _ in got[0]] == [label for label, _ in expected[0]]
                assert [s for _, s in got[0]] == pytest.approx([s for _, s in expected[0]],
                                                               abs=1e-5)
                assert got[1] == expected[1] == level
        assert [(e.from_level, e.to_level) for e in shared.switches] == [(None, 2), (2, 1), (1, 2)]
        assert all(e.duration_ms > 0 and e.task == "high" for e in shared.switches)


def test_a_damaged_block_refuses_the_levels_that_use_it_only(digits_shared_export, tmp_path):
    export_dir = shutil.copytree(digits_shared_export.tflite, tmp_path / "export")
    damage_block_of(export_dir, "low_level2", spared="low_level1")
    with TaskRuntime(load_manifest(export_dir), "low") as runtime:
        runtime.observe(10 ** 12)
        assert runtime.level == 1
        assert runtime.classify(samples(export_dir, "low")[0])[1] == 1


def test_a_file_without_its_index_is_refused_with_what_to_do(digits_shared_export, tmp_path):
    export_dir = shutil.copytree(digits_shared_export.tflite, tmp_path / "export")
    path = os.path.join(export_dir, "shared.tflite")
    content = open(path, "rb").read()
    open(path, "wb").write(content.replace(b"dvn_cutout", b"xxx_cutout"))
    with TaskRuntime(load_manifest(export_dir), "low") as runtime:
        with pytest.raises(ModelLoadError, match="copy the export again"):
            runtime.observe(10 ** 12)


def test_the_joint_ladder_raises_the_lowest_task_first():
    assert joint_ladder({"a": [1, 2, 3], "b": [1, 2]}) == [
        {"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 2, "b": 2}, {"a": 3, "b": 2}]


def test_two_tasks_in_one_process_follow_a_shrinking_and_growing_budget(digits_shared_export):
    manifest = load_manifest(digits_shared_export.tflite)
    with MultiTaskRuntime(manifest, ["low", "high"], upgrade_after=1) as runtime:
        need = runtime.policy.need
        steps = [3, 2, 1, 2, 3, 1, 3]  # ladder steps: (1, 1), (2, 1), (2, 2)
        readings = [need(step) + 1000 for step in steps]
        failures, runs, stop = [], [], threading.Event()

        def classify(task):
            images = samples(digits_shared_export.tflite, task)
            while not stop.is_set():
                try:
                    runs.append(runtime.classify(task, images[len(runs) % len(images)])[1])
                except Exception as error:  # the test fails on any
                    failures.append(repr(error))

        runtime.observe(readings[0])
        threads = [threading.Thread(target=classify, args=(task,)) for task in ("low", "high")]
        for thread in threads:
            thread.start()
        seen = []
        for reading in readings:
            runtime.observe(reading)
            seen.append(dict(runtime.levels))
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == [] and len(runs) >= 2
    assert seen == [runtime.ladder[step - 1] for step in steps]
    moves = [(e.task, e.reason, e.from_level, e.to_level) for e in runtime.switches]
    assert moves == [
        ("low", "initial", None, 2), ("high", "initial", None, 2),
        ("high", "downgrade", 2, 1), ("low", "downgrade", 2, 1), ("low", "upgrade", 1, 2),
        ("high", "upgrade", 1, 2), ("low", "downgrade", 2, 1), ("high", "downgrade", 2, 1),
        ("low", "upgrade", 1, 2), ("high", "upgrade", 1, 2)]
    assert all(e.duration_ms > 0 for e in runtime.switches)


def test_the_cli_replays_a_trace_for_two_tasks(digits_shared_export):
    image = samples(digits_shared_export.tflite, "low")[0]
    costs = load_manifest(digits_shared_export.tflite).costs
    both_top = costs("low")[2] + costs("high")[2]
    trace = [10 * both_top, costs("low")[2] + costs("high")[1] + 1000, 1, 10 * both_top]
    result = run_cli("--models", digits_shared_export.tflite, "--task", "low", "high",
                     "--upgrade-after", "1", "--margin", "0", "--image", image,
                     "--simulate-memory", ",".join(map(str, trace)))
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows[0].split()[:4] == ["reading", "available", "low", "high"]
    assert [row.split()[3:5] for row in rows[1:5]] == [["2", "2"], ["2", "1"], ["1", "1"],
                                                       ["2", "2"]]
    assert re.search(r"low: initial - -> 2 \(\d+\.\d ms\); high: initial - -> 2", rows[1])
    assert re.search(r"high: downgrade 2 -> 1 \(\d+\.\d ms\)$", rows[2])
    assert rows[-1] == "switches: 6"


@pytest.mark.parametrize("name", ["shared_export", "shared_export_int8"])
def test_the_android_fixture_is_a_shared_export_the_runtime_serves(name):
    """tests/fixtures/NAME (make_shared_export.py), whose cut-outs the Java tests match."""
    fixture = os.path.join(os.path.dirname(__file__), "fixtures", name)
    manifest = load_manifest(fixture)
    assert manifest.layout == "shared" and len(manifest.models) == 4
    for task in manifest.tasks:
        with TaskRuntime(manifest, task) as runtime:
            for level in (1, 2):
                assert runtime.force_level(level).to_level == level  # its cut-out's sha256 checked
