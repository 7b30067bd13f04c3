"""The web demo in a real Chromium, on the session's digits exports, against the Python runtime.

web_demo/test/browser_check.mjs drives Debian's Chromium with playwright-core
over the demo served from localhost (float32 and int8 per-level exports, each
task alone; the float32 shared layout, both tasks at once; a per-level and a
shared copy with a damaged level) and prints a JSON report; the tests below
check it. The JS cut-out (web_demo/src/cutout.js) is also run in node on shared
files and compared byte for byte with the Python one. `make test-web` installs
what they need; run directly, they are skipped when something is missing (and
fail in CI).
"""

import collections
import json
import os
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest

from dvn_runtime.manifest import load_manifest
from dvn_runtime.model import load_model
from dvn_runtime.preprocess import preprocess
from runtime_helpers import damage_block_of
from web_demo import serve

WEB_DEMO = os.path.dirname(serve.__file__)
CHROMIUM = os.environ.get("DVN_CHROMIUM", "/usr/bin/chromium")
MAX_LOGIT_DIFFERENCE = 1e-4

Browser = collections.namedtuple("Browser", "report served screenshot")
# Writes the JS cut-out of each KEY of the shared file PATH to OUT/KEY.tflite.
JS_CUT_OUT = """
import {readFileSync, writeFileSync} from 'node:fs';
import {cutOut, readIndex} from '%s';
const [path, out, ...keys] = process.argv.slice(1);
const content = new Uint8Array(readFileSync(path));
const index = readIndex(content);
for (const key of keys) writeFileSync(`${out}/${key}.tflite`, cutOut(content, key, index));
"""


def missing_tool():
    """What the browser tests need and this machine lacks, or None."""
    if shutil.which("node") is None:
        return "Node.js 20 or newer (node)"
    if not os.path.isdir(os.path.join(WEB_DEMO, "node_modules", "playwright-core")):
        return "the demo's npm packages (run `make test-web`, which runs npm ci in web_demo/)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium at {CHROMIUM} (run `make test-web` as root, or apt-get install chromium)"
    return None


def js_cutouts(path, keys, out):
    """{key: bytes} of web_demo/src/cutout.js's cut-outs of a shared file, run in node."""
    if shutil.which("node") is None:
        (pytest.fail if os.environ.get("CI") else pytest.skip)("the JS cut-out needs node")
    module = pathlib.Path(WEB_DEMO, "src", "cutout.js").as_uri()
    result = subprocess.run(["node", "--input-type=module", "-e", JS_CUT_OUT % module,
                             str(path), str(out), *keys], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return {key: (out / f"{key}.tflite").read_bytes() for key in keys}


def assert_same_cutouts(shared_path, expected, tmp_path):
    """The JS cut-outs of a shared file are byte-identical to `expected` ({key: bytes})."""
    for key, got in js_cutouts(shared_path, list(expected), tmp_path).items():
        want = expected[key]
        first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), None)
        assert (len(got), first) == (len(want), None), f"{key}: JS {len(got)} bytes, Python " \
            f"{len(want)}, first difference at byte {first}"


@pytest.mark.slow
def test_js_cut_outs_are_the_python_cut_outs_of_a_float32_export(digits_shared_export, tmp_path):
    """The export CLI's shared file of the digits run (ResNet-8)."""
    from dvn_runtime.model import read_model

    manifest = load_manifest(digits_shared_export.tflite)
    (name, _), = manifest.files.items()
    expected = {model.signature: read_model(manifest, model) for model in manifest.models}
    assert_same_cutouts(os.path.join(manifest.directory, name), expected, tmp_path)


def test_js_cut_outs_are_the_python_cut_outs_of_a_float16_mobilenetv2(tmp_path):
    """A tiny MobileNetV2 DVN (one task, k = 2): its made buffers scale depthwise channels
    (axis -1) and conv rows (axis 0), rounded to float16."""
    import keras

    from dvn_runtime.cutout import SharedFile
    from dvn_tf.model import DVNModel
    from dvn_tf.units import UnitPlan
    from export import shared
    from test_export_helpers import random_images

    keras.utils.set_random_seed(5)
    dvn = DVNModel(["t0"], [3], UnitPlan(2, [[2, 1]]), (8, 8, 1), backbone="mobilenetv2",
                   width_multiplier=0.25, depth_coefficient=0.25, name="dvn")
    dvn.build()
    task = collections.namedtuple("Task", "name input_shape")("t0", (8, 8, 1))
    models = shared.level_models(dvn, [task], [random_images((8, 8, 1), count=4)])
    path = tmp_path / shared.SHARED_FILE
    path.write_bytes(shared.to_shared_tflite(models, [task], "float16"))
    with SharedFile(str(path)) as source:
        expected = {key: source.cutout(key) for key in models}
        recipes = [r for s in source.index["signatures"] for r in s["made"]]
    assert {r["type"] for r in recipes} == {"float16"}
    assert {r["scale"][2] for r in recipes if r["scale"]} == {0, -1}
    out = tmp_path / "js"
    out.mkdir()
    assert_same_cutouts(path, expected, out)


def damage_top_level(export_dir):
    """Flip one byte in the middle of the first task's top-level file (its size stays)."""
    manifest = load_manifest(export_dir)
    task = next(iter(manifest.tasks))
    top = max(manifest.models_for(task).values(), key=lambda model: model.level)
    path = manifest.path(top)
    content = bytearray(open(path, "rb").read())
    content[len(content) // 2] ^= 0xFF
    with open(path, "wb") as file:
        file.write(content)


@pytest.fixture(scope="module")
def browser(digits_export, digits_int8_export, digits_shared_export, tmp_path_factory):
    """The browser check's report over copies of the session's float32, int8 and shared exports."""
    missing = missing_tool()
    if missing:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"the web demo tests need {missing}")
    served = tmp_path_factory.mktemp("web_exports")
    for name, export in (("digits", digits_export), ("int8", digits_int8_export),
                         ("shared", digits_shared_export), ("corrupt", digits_export),
                         ("corrupt_shared", digits_shared_export)):
        shutil.copytree(export.tflite, served / name)
    damage_top_level(served / "corrupt")
    damage_block_of(served / "corrupt_shared", "low_level2", spared="low_level1")
    screenshot = served / "screenshot.png"
    server = serve.start(served)
    try:
        result = subprocess.run(
            ["node", "test/browser_check.mjs", f"http://127.0.0.1:{server.server_port}/",
             str(screenshot)], cwd=WEB_DEMO, capture_output=True, text=True, timeout=600,
            env={**os.environ, "DVN_CHROMIUM": CHROMIUM})
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr[-3000:]
    return Browser(json.loads(result.stdout.splitlines()[-1]), served, screenshot)


def assert_python_runtime_logits(export_dir, results):
    """Each browser result {sample: "TASK/FILE", task, level, logits, top1} gives the Python
    runtime's top-1 and logits (single-threaded) at its (task, level)."""
    manifest = load_manifest(export_dir)
    by_model = collections.defaultdict(list)
    for result in results:
        by_model[result["task"], result["level"]].append(result)
    for (task, level), group in by_model.items():
        model = load_model(manifest, manifest.models_for(task)[level], num_threads=1)
        try:
            for result in group:
                image = preprocess(os.path.join(export_dir, "samples", result["sample"]),
                                   manifest.task(task).input)
                expected = model.logits(image)
                label = manifest.task(task).labels[int(np.argmax(expected))]
                logits = np.asarray(result["logits"], np.float32)
                assert result["top1"] == label, (export_dir, result)
                assert np.max(np.abs(logits - expected)) <= MAX_LOGIT_DIFFERENCE, \
                    (export_dir, result, expected)
        finally:
            model.close()
    return sorted(by_model)


def every_sample(export_dir, tasks):
    """["TASK/FILE"] of the export's samples of `tasks`."""
    with open(os.path.join(export_dir, "samples", "index.json")) as file:
        index = json.load(file)
    return sorted(f"{task}/{name}" for task in tasks for name in index[task])


@pytest.mark.parametrize("export", ["digits", "int8"])
@pytest.mark.slow
def test_every_sample_gives_the_python_runtimes_logits_at_every_level(browser, export):
    export_dir = str(browser.served / export)
    manifest = load_manifest(export_dir)
    for task, walk in browser.report[export]["tasks"].items():
        assert assert_python_runtime_logits(export_dir, walk["results"]) == [
            (task, level) for level in sorted(manifest.models_for(task))]
        by_level = collections.defaultdict(list)
        for result in walk["results"]:
            by_level[result["level"]].append(result["sample"])
        assert all(sorted(s) == every_sample(export_dir, [task]) for s in by_level.values())


@pytest.mark.parametrize("export", ["digits", "int8"])
def test_every_level_shows_its_worst_class_and_recall_from_the_manifest(browser, export):
    manifest = load_manifest(str(browser.served / export))
    shown = {(task, level): cell for task, level, cell in browser.report[export]["worstShown"]}
    expected = {}
    for task in manifest.tasks:
        for level, model in manifest.models_for(task).items():
            label, recall = manifest.worst_class(model)
            expected[(task, level)] = f"{label} {100 * recall:.1f}%"
    assert shown == expected
    top = {task: max(manifest.models_for(task)) for task in manifest.tasks}  # all served at first
    assert browser.report[export]["worst"] == {
        task: dict(zip(("label", "recall"), manifest.worst_class(manifest.models_for(task)[level])))
        for task, level in top.items()}


@pytest.mark.parametrize("export", ["digits", "int8"])
def test_the_slider_steps_down_and_back_up_with_no_failed_classification(browser, export):
    for task, walk in browser.report[export]["tasks"].items():
        switches = [(e["task"], e["reason"], e["from"], e["to"]) for e in walk["events"]]
        assert switches == [(task, "initial", None, 2), (task, "downgrade", 2, 1),
                            (task, "upgrade", 1, 2)]
        assert all(e["ms"] > 0 for e in walk["events"])
        loop = walk["loop"]
        assert loop["failures"] == [] and loop["runs"] >= 3
        assert sorted(loop["levels"]) == ["[1]", "[2]"]
        assert [step["to"] for step in walk["steps"]] == [1, 2]


def test_the_page_runs_litert_js_threaded_when_cross_origin_isolated(browser):
    """serve.py sends COOP and COEP, so Chromium gives the page shared memory."""
    expected = min(4, os.cpu_count())
    assert browser.report["digits"]["threads"] == expected
    assert f"{expected} thread" in browser.report["digits"]["status"]
    assert "cross-origin isolated" in browser.report["digits"]["status"]


@pytest.mark.slow
def test_two_tasks_at_once_from_the_shared_layout_give_the_python_runtimes_logits(browser):
    """The page cuts each served level out of the one shared file (its sha256 checked against
    the Python cut-out's) and classifies every sample for both tasks at every ladder step."""
    report = browser.report["shared"]
    export_dir = str(browser.served / "shared")
    assert report["layout"] == "shared" and report["tasks"] == ["low", "high"]
    walk = report["walk"]
    assert assert_python_runtime_logits(export_dir, walk["results"]) == [
        ("high", 1), ("high", 2), ("low", 1), ("low", 2)]
    by_model = collections.defaultdict(set)  # a level serves at several steps of the ladder
    for result in walk["results"]:
        by_model[result["task"], result["level"]].add(result["sample"])
    assert all(sorted(s) == every_sample(export_dir, report["tasks"]) for s in by_model.values())


def test_the_shared_file_is_downloaded_once_for_every_level(browser):
    """Eight switches and refusals later, the page has fetched one model file, once."""
    assert browser.report["shared"]["modelFetches"] == ["/export/shared/shared.tflite"]


def test_two_tasks_follow_the_joint_ladder_down_and_back_up(browser):
    walk = browser.report["shared"]["walk"]
    assert walk["ladder"] == [{"low": 1, "high": 1}, {"low": 2, "high": 1},
                              {"low": 2, "high": 2}]
    switches = [(e["task"], e["reason"], e["from"], e["to"]) for e in walk["events"]]
    assert switches == [
        ("low", "initial", None, 2), ("high", "initial", None, 2),
        ("high", "downgrade", 2, 1), ("low", "downgrade", 2, 1),
        ("low", "upgrade", 1, 2), ("high", "upgrade", 1, 2)]
    assert all(e["ms"] > 0 for e in walk["events"])
    assert [step["to"] for step in walk["steps"]] == [2, 1, 3]
    loop = walk["loop"]
    assert loop["failures"] == [] and loop["runs"] >= 3
    assert {"[2,2]", "[1,1]"} <= set(loop["levels"])  # [low, high] levels of one image
    shown = browser.report["shared"]["switchesShown"][::-1]  # the page lists the newest first
    assert len(shown) == 7  # the walk's 6, then one step down for the screenshot
    assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} high: downgrade, level 2 → level 1 in "
                        r"\d+\.\d ms \(available \d+(\.\d\d MiB| KiB)\)", shown[2]), shown


def test_a_picked_and_a_dropped_file_are_classified_for_both_tasks(browser):
    report = browser.report["shared"]
    inputs = report["inputs"]
    expected = {r["task"]: r["top1"] for r in report["walk"]["results"]
                if r["sample"] == inputs["sample"] and r["level"] == 2}
    assert sorted(expected) == ["high", "low"]
    assert inputs["picked"] == inputs["dropped"] == expected


@pytest.mark.parametrize("export, error, served", [
    ("corrupt", "low_level2.tflite does not match the manifest", {"low": 1, "high": 2}),
    # The damaged block is of a unit that both tasks' level 2 use: both are refused.
    ("corrupt_shared", "the cut-out of low_level2 from shared.tflite does not match the manifest",
     {"low": 1, "high": 1})])
def test_a_corrupt_level_is_refused_and_a_smaller_one_served(browser, export, error, served):
    report = browser.report[export]
    refused, initial = [e for e in report["events"] if e["task"] == "low"]
    assert (refused["reason"], refused["level"]) == ("refused", 2)
    assert refused["error"].startswith(error), refused["error"]
    assert (initial["reason"], initial["to"]) == ("initial", 1)
    assert report["served"] == served and report["levelShown"] == "1"
    assert [(e["task"], e["level"]) for e in report["events"] if e["reason"] == "refused"] == [
        (task, 2) for task, level in served.items() if level == 1]
    assert "refused level 2" in report["refusalShown"]


def test_the_page_logs_no_error(browser):
    assert browser.report["errors"] == []


def test_the_browser_check_saves_a_screenshot(browser):
    from PIL import Image

    with Image.open(browser.screenshot) as image:
        assert image.format == "PNG" and image.width >= 1000 and image.height >= 600
        assert len(set(image.convert("L").getdata())) > 50  # not a blank page
