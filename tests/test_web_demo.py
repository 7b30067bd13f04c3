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


def missing_tool():
    """What the browser tests need and this machine lacks, or None."""
    if shutil.which("node") is None:
        return "Node.js 20 or newer (node)"
    if not os.path.isdir(os.path.join(WEB_DEMO, "node_modules", "playwright-core")):
        return "the demo's npm packages (run `make test-web`, which runs npm ci in web_demo/)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"Chromium at {CHROMIUM} (run `make test-web` as root, or apt-get install chromium)"
    return None


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
