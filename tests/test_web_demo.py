"""The web demo in a real Chromium, on the session's digits exports, against the Python runtime.

web_demo/test/browser_check.mjs drives Debian's Chromium with playwright-core
over the demo served from localhost (float32, int8, and a float32 copy whose
first task's top level is damaged) and prints a JSON report; the tests below
check it. `make test-web` installs what they need; run directly, they are
skipped when something is missing (and fail in CI).
"""

import collections
import json
import os
import pathlib
import shutil
import subprocess

import numpy as np
import pytest

from dvn_runtime.manifest import load_manifest
from dvn_runtime.model import load_model
from dvn_runtime.preprocess import preprocess
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
    return task, top.level


@pytest.fixture(scope="module")
def browser(digits_export, digits_int8_export, tmp_path_factory):
    """The browser check's report over copies of the session's float32 and int8 exports."""
    missing = missing_tool()
    if missing:
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"the web demo tests need {missing}")
    served = tmp_path_factory.mktemp("web_exports")
    shutil.copytree(digits_export.tflite, served / "digits")
    shutil.copytree(digits_int8_export.tflite, served / "int8")
    shutil.copytree(digits_export.tflite, served / "corrupt")
    damage_top_level(served / "corrupt")
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


def python_runtime_logits(export_dir, task, level, samples):
    """{sample file: float32 logits} of the Python runtime at (task, level), single-threaded."""
    manifest = load_manifest(export_dir)
    model = load_model(manifest, manifest.models_for(task)[level], num_threads=1)
    try:
        return {name: model.logits(preprocess(os.path.join(export_dir, "samples", task, name),
                                              manifest.task(task).input))
                for name in samples}
    finally:
        model.close()


@pytest.mark.parametrize("export", ["digits", "int8"])
@pytest.mark.slow
def test_every_sample_gives_the_python_runtimes_logits_at_every_level(browser, export):
    export_dir = str(browser.served / export)
    manifest = load_manifest(export_dir)
    with open(os.path.join(export_dir, "samples", "index.json")) as file:
        samples = json.load(file)
    for task, walk in browser.report[export]["tasks"].items():
        by_level = collections.defaultdict(dict)
        for result in walk["results"]:
            by_level[result["level"]][result["sample"]] = result
        assert sorted(by_level) == sorted(manifest.models_for(task)), task
        for level, results in by_level.items():
            assert sorted(results) == sorted(samples[task]), (task, level)
            expected = python_runtime_logits(export_dir, task, level, samples[task])
            for name, result in results.items():
                logits = np.asarray(result["logits"], np.float32)
                label = manifest.task(task).labels[int(np.argmax(expected[name]))]
                assert result["top1"] == label, (export, task, level, name)
                assert np.max(np.abs(logits - expected[name])) <= MAX_LOGIT_DIFFERENCE, \
                    (export, task, level, name, logits, expected[name])


@pytest.mark.parametrize("export", ["digits", "int8"])
def test_the_slider_steps_down_and_back_up_with_no_failed_classification(browser, export):
    for task, walk in browser.report[export]["tasks"].items():
        switches = [(e["reason"], e["from"], e["to"]) for e in walk["events"]]
        assert switches == [("initial", None, 2), ("downgrade", 2, 1), ("upgrade", 1, 2)], task
        assert all(e["ms"] > 0 for e in walk["events"])
        loop = walk["loop"]
        assert loop["failures"] == [] and loop["runs"] >= 3 and sorted(loop["levels"]) == [1, 2]
        assert [step["to"] for step in walk["steps"]] == [1, 2]


def test_a_picked_and_a_dropped_file_are_classified(browser):
    inputs = browser.report["digits"]["tasks"]["low"]["inputs"]
    expected = [r["top1"] for r in browser.report["digits"]["tasks"]["low"]["results"]
                if r["sample"] == inputs["sample"] and r["level"] == 2]
    assert [inputs["picked"], inputs["dropped"]] == expected * 2


def test_a_corrupt_level_is_refused_and_a_smaller_one_served(browser):
    report = browser.report["corrupt"]
    refused, initial = report["events"]
    assert (refused["reason"], refused["level"]) == ("refused", 2)
    assert "does not match the manifest" in refused["error"]
    assert (initial["reason"], initial["to"]) == ("initial", 1)
    assert report["served"] == 1 and report["levelShown"] == "1"
    assert "refused level 2" in report["refusalShown"]


def test_the_page_logs_no_error(browser):
    assert browser.report["errors"] == []


def test_the_browser_check_saves_a_screenshot(browser):
    from PIL import Image

    with Image.open(browser.screenshot) as image:
        assert image.format == "PNG" and image.width >= 1000 and image.height >= 600
        assert len(set(image.convert("L").getdata())) > 50  # not a blank page
