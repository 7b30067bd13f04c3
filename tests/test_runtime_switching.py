"""TaskRuntime on real .tflite files: verification, fallback, live switching, threads."""

import hashlib
import logging
import os
import threading
import time

import numpy as np
import pytest

from dvn_runtime.manifest import load_manifest
from dvn_runtime.model import ModelLoadError, load_model
from dvn_runtime.policy import BudgetPolicy
from dvn_runtime.preprocess import preprocess
from dvn_runtime.runtime import TaskRuntime
from runtime_helpers import (copy_export, flip_bytes, random_image, read_manifest,
                             shared_export, write_manifest)

PLENTY = 10**12
LOG = "dvn_runtime.runtime"


@pytest.fixture
def manifest():
    return load_manifest(shared_export())


def _runtime(manifest, task="animals", **policy_options):
    policy = BudgetPolicy(manifest.costs(task), **{"upgrade_after": 1, **policy_options})
    return TaskRuntime(manifest, task, policy, read_available=lambda: PLENTY, num_threads=1)


def _messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == LOG]


def test_corrupt_file_is_refused_and_the_next_smaller_level_used(tmp_path, caplog):
    directory = copy_export(tmp_path / "export")
    flip_bytes(os.path.join(directory, "animals_level3.tflite"))
    manifest = load_manifest(directory)
    with pytest.raises(ModelLoadError, match="does not match the manifest .*sha256"):
        load_model(manifest, manifest.models_for("animals")[3])
    caplog.set_level(logging.INFO, logger=LOG)
    with _runtime(manifest) as runtime:
        assert runtime.observe(PLENTY).to_level == 2
        _, level = runtime.classify(random_image(0))
        assert level == 2
        runtime.observe(PLENTY)
        runtime.force_level(3)
        assert runtime.level == 2
    refusals = [m for m in _messages(caplog) if "refused level 3" in m]
    assert len(refusals) == 1 and "falling back" in refusals[0]  # refused once, then skipped


def test_missing_and_unloadable_files_fall_back(tmp_path):
    directory = copy_export(tmp_path / "export")
    os.remove(os.path.join(directory, "animals_level3.tflite"))
    garbage = b"\x00" * 256  # sha256 matches the manifest, but LiteRT cannot parse it
    raw = read_manifest(directory)
    level2 = next(m for m in raw["models"] if m["task"] == "animals" and m["level"] == 2)
    with open(os.path.join(directory, level2["file"]), "wb") as f:
        f.write(garbage)
    level2.update(sha256=hashlib.sha256(garbage).hexdigest(), bytes=len(garbage))
    write_manifest(directory, raw)
    manifest = load_manifest(directory)
    with pytest.raises(ModelLoadError, match="LiteRT cannot load"):
        load_model(manifest, manifest.models_for("animals")[2])
    with pytest.raises(ModelLoadError, match="cannot read .*animals_level3.tflite"):
        load_model(manifest, manifest.models_for("animals")[3])
    with _runtime(manifest) as runtime:
        runtime.observe(PLENTY)
        assert runtime.level == 1


def test_no_usable_level_is_an_error(tmp_path):
    directory = copy_export(tmp_path / "export")
    for level in (1, 2):
        flip_bytes(os.path.join(directory, f"digits_level{level}.tflite"))
    with _runtime(load_manifest(directory), task="digits") as runtime:
        with pytest.raises(ModelLoadError, match="no usable model at level 2 or below"):
            runtime.classify(random_image(0))


def test_smaller_model_loaded_before_larger_released(manifest, caplog):
    caplog.set_level(logging.INFO, logger=LOG)
    with _runtime(manifest, margin_fraction=0.1) as runtime:
        runtime.observe(PLENTY)
        caplog.clear()
        event = runtime.observe(1_500_000)  # need(1) = 1.1 MB fits, need(2) = 2.2 MB does not
        assert (event.reason, event.from_level, event.to_level) == ("downgrade", 3, 1)
        assert event.duration_ms > 0 and event.available == 1_500_000
        messages = _messages(caplog)
        loaded = messages.index("task animals: loaded level 1")
        released = messages.index("task animals: released level 3")
        assert loaded < released
        assert any("downgrade, level 3 -> 1 in" in m for m in messages)


def test_close_waits_for_requests_in_flight(manifest):
    model = load_model(manifest, manifest.models_for("animals")[1])
    model.retain()
    closer = threading.Thread(target=model.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive()
    batch = preprocess(random_image(1), manifest.task("animals").input)
    assert model.predict(batch).shape == (4,)  # still usable by the request in flight
    model.release()
    closer.join(5)
    assert not closer.is_alive()


def test_concurrent_classify_during_switches(manifest):
    spec = manifest.task("animals").input
    images = [random_image(seed) for seed in range(6)]
    reference = {}
    for level, info in manifest.models_for("animals").items():
        model = load_model(manifest, info)
        reference[level] = [model.predict(preprocess(image, spec)) for image in images]
        model.close()
    for a, b in [(1, 2), (2, 3), (1, 3)]:  # every level answers differently
        assert all(np.abs(x - y).max() > 1e-3 for x, y in zip(reference[a], reference[b]))

    answers, errors = [], []
    stop = threading.Event()

    def client(seed):
        rng = np.random.default_rng(seed)
        try:
            while not stop.is_set():
                index = int(rng.integers(len(images)))
                results, level = runtime.classify(images[index], top_k=4)
                answers.append((index, level, results))
        except Exception as e:  # noqa: BLE001 - any failure fails the test below
            errors.append(e)

    with _runtime(manifest) as runtime:
        runtime.force_level(3)
        threads = [threading.Thread(target=client, args=(seed,)) for seed in range(4)]
        for thread in threads:
            thread.start()
        for level in [1, 3, 2, 1, 2, 3] * 8:
            runtime.force_level(level)
            time.sleep(0.002)
        stop.set()
        for thread in threads:
            thread.join(10)
        switches = len(runtime.switches)
    assert not errors, errors
    assert switches == 49
    assert len({level for _, level, _ in answers}) == 3 and len(answers) > 100
    labels = manifest.task("animals").labels
    for index, level, results in answers:
        expected = reference[level][index]
        for label, score in results:
            assert score == pytest.approx(float(expected[labels.index(label)]), abs=1e-6)
        assert [label for label, _ in results] == [labels[i] for i in np.argsort(-expected, kind="stable")]


def test_monitor_thread_follows_memory(manifest):
    trace = iter([PLENTY, PLENTY, 1_500_000, 1_500_000] + [PLENTY] * 3)

    def read_available():
        return next(trace, PLENTY)

    policy = BudgetPolicy(manifest.costs("animals"), upgrade_after=2)
    with TaskRuntime(manifest, "animals", policy, read_available=read_available) as runtime:
        runtime.start(interval=0.005)
        deadline = time.monotonic() + 10
        while len(runtime.switches) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        runtime.stop()
        changes = [(e.reason, e.from_level, e.to_level) for e in runtime.switches]
    assert changes == [("initial", None, 3), ("downgrade", 3, 1), ("upgrade", 1, 3)]


def test_force_level_pins_until_released(manifest):
    with _runtime(manifest) as runtime:
        runtime.observe(PLENTY)
        assert runtime.force_level(1).reason == "forced"
        assert runtime.observe(PLENTY) is None and runtime.level == 1
        assert runtime.force_level(None) is None and runtime.level == 1
        event = runtime.observe(PLENTY)
        assert (event.reason, event.to_level) == ("resync", 3)
        with pytest.raises(ValueError, match=r"no level 7; its levels are \[1, 2, 3\]"):
            runtime.force_level(7)


def test_first_classify_loads_the_level_that_fits(manifest):
    with TaskRuntime(manifest, "animals", read_available=lambda: 3_000_000) as runtime:
        results, level = runtime.classify(random_image(0), top_k=2)
    assert level == 2  # default margin 10 %: need(2) = 2.2 MB, need(3) = 4.4 MB
    assert len(results) == 2 and results[0][1] >= results[1][1]
    assert [(e.reason, e.to_level) for e in runtime.switches] == [("initial", 2)]


def test_policy_with_levels_the_task_lacks(manifest):
    with pytest.raises(ValueError, match=r"policy has levels \[3\] that task 'digits' does not"):
        TaskRuntime(manifest, "digits", BudgetPolicy({1: 1, 2: 2, 3: 3}))
