"""``python -m dvn_runtime`` end to end in subprocesses, and the no-TensorFlow promise."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter
from PIL import Image

from dvn_runtime.cli import parse_memory, read_trace
from dvn_runtime.manifest import load_manifest
from dvn_runtime.preprocess import preprocess
from dvn_runtime.runtime import TaskRuntime
from runtime_helpers import REPO, copy_export, random_image, run_cli, shared_export

RUNTIME_DIR = os.path.join(REPO, "dvn_runtime")


def test_importing_the_runtime_does_not_import_tensorflow():
    code = ("import sys, dvn_runtime, dvn_runtime.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_runtime_sources_never_mention_tensorflow_or_keras():
    for name in os.listdir(RUNTIME_DIR):
        if name.endswith(".py"):
            with open(os.path.join(RUNTIME_DIR, name), encoding="utf-8") as f:
                source = f.read()
            assert not re.search(r"^\s*(import|from)\s+(tensorflow|keras|tf_keras)\b",
                                 source, re.MULTILINE), name


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    directory = tmp_path_factory.mktemp("images")
    paths = [directory / "first.png", directory / "second.jpg"]
    Image.fromarray(random_image(10, size=(31, 17))).save(paths[0])
    Image.fromarray(random_image(11, size=(12, 12))).convert("L").save(paths[1])
    return paths


def test_classify(images):
    result = run_cli("--models", shared_export(), "--task", "animals", "--image", *images)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"task animals: level 3 of levels \[1, 2, 3\] \(.* available\)", lines[0])
    with TaskRuntime(load_manifest(shared_export()), "animals") as runtime:
        for path in images:
            start = lines.index(f"{path} (level 3)")
            printed = [line.split() for line in lines[start + 1:start + 5]]
            expected, _ = runtime.classify(path, top_k=5)
            assert [(rank, label) for rank, label, _ in printed] == [
                (f"{i}.", label) for i, (label, _) in enumerate(expected, 1)]
            assert [float(score) for _, _, score in printed] == pytest.approx(
                [score for _, score in expected], abs=1e-4)


def test_simulate_memory_prints_each_switch(images):
    result = run_cli("--models", shared_export(), "--task", "animals", "--upgrade-after", "2",
                     "--simulate-memory", "10MB,1.5MB,1.5MB,10MB,10MB,10MB", "--image", images[0])
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()
    assert rows[0].split()[:4] == ["reading", "available", "level", "top-1"]
    levels = [int(row.split()[3]) for row in rows[1:7]]
    assert levels == [3, 1, 1, 1, 3, 3]
    assert re.search(r"^ +0 +10\.0 MB +3 .* initial - -> 3 \(\d+\.\d ms\)$", rows[1])
    assert re.search(r"^ +1 .* downgrade 3 -> 1 \(\d+\.\d ms\)$", rows[2])
    assert re.search(r"^ +4 .* upgrade 1 -> 3 \(\d+\.\d ms\)$", rows[5])
    assert not re.search(r"(grade|initial)", "\n".join(rows[3:5] + rows[6:7]))
    assert rows[7] == "switches: 3"


def test_simulate_memory_from_a_file_with_cap(tmp_path):
    trace = tmp_path / "trace.txt"
    trace.write_text("# free memory\n5MB\n\n1.2 MiB  # dip\n3000000\n", encoding="utf-8")
    result = run_cli("--models", shared_export(), "--task", "digits", "--simulate-memory", trace,
                     "--cap", "1", "--margin", "0")
    assert result.returncode == 0, result.stderr
    assert [int(row.split()[3]) for row in result.stdout.splitlines()[1:4]] == [1, 1, 1]
    assert result.stdout.splitlines()[-1] == "switches: 1"


def labelled_folder(root, counts):
    """root/CLASS/NN.png random images, `counts` {class: images}, and one file that is no image."""
    for offset, (label, count) in enumerate(counts.items()):
        (root / label).mkdir(parents=True)
        for n in range(count):
            Image.fromarray(random_image(100 * offset + n, size=(15, 13))).save(
                root / label / f"{n:02d}.png")
    (root / "cat" / "notes.png").write_text("not an image", encoding="utf-8")
    return root


def test_evaluate_prints_recall_per_class_and_accuracy_per_level(tmp_path):
    counts = {"cat": 4, "dog": 3, "bird": 5}  # no "fish" folder: its recall is unknown
    folder = labelled_folder(tmp_path / "camera", counts)
    result = run_cli("--models", shared_export(), "--task", "animals", "--evaluate", folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "task animals: 12 images, recall per class and level"
    assert lines[1].split() == ["class", "images", "level", "1", "level", "2", "level", "3"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:8]}
    manifest = load_manifest(shared_export())
    labels = list(manifest.task("animals").labels)
    truth = [(folder / label / f"{n:02d}.png", labels.index(label))
             for label, count in counts.items() for n in range(count)]
    for level, info in manifest.models_for("animals").items():  # LiteRT on each file directly
        interpreter = Interpreter(model_path=manifest.path(info))
        interpreter.allocate_tensors()
        hits = {label: 0 for label in labels}
        for path, label in truth:
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"],
                                   preprocess(path, manifest.task("animals").input))
            interpreter.invoke()
            logits = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
            hits[labels[label]] += int(np.argmax(logits) == label)
        for label in labels:
            expected = f"{hits[label] / counts[label]:.4f}" if label in counts else "-"
            assert rows[label][0] == str(counts.get(label, 0))
            assert rows[label][level] == expected, (level, label, rows[label])
        assert rows["accuracy"][level] == f"{sum(hits.values()) / 12:.4f}"
    assert lines[7].startswith("worst class")
    assert lines[-1] == f"skipped 1 unreadable file(s): {folder / 'cat' / 'notes.png'}"


def _bad_manifest(tmp_path):
    directory = copy_export(tmp_path / "export")
    with open(os.path.join(directory, "manifest.json"), "a", encoding="utf-8") as f:
        f.write("}")
    return directory


BAD_INPUTS = {
    "missing_dir": (lambda tmp: ["--models", tmp / "nope", "--task", "animals", "--image", "x.png"],
                    "does not exist"),
    "bad_manifest": (lambda tmp: ["--models", _bad_manifest(tmp), "--task", "animals",
                                  "--image", "x.png"], "not valid JSON"),
    "unknown_task": (lambda tmp: ["--models", shared_export(), "--task", "cars", "--image", "x"],
                     "unknown task 'cars'; known tasks: animals, digits"),
    "unreadable_image": (lambda tmp: ["--models", shared_export(), "--task", "animals",
                                      "--image", tmp / "missing.png"], "cannot read image"),
    "bad_trace": (lambda tmp: ["--models", shared_export(), "--task", "animals",
                               "--simulate-memory", "10MB,lots"], "bad memory value 'lots'"),
    "empty_trace": (lambda tmp: ["--models", shared_export(), "--task", "animals",
                                 "--simulate-memory", " , "], "has no values"),
    "cap_below_floor": (lambda tmp: ["--models", shared_export(), "--task", "animals",
                                     "--simulate-memory", "1GB", "--cap", "1", "--floor", "2"],
                        "no level is allowed"),
    "no_image_or_trace": (lambda tmp: ["--models", shared_export(), "--task", "animals"],
                          "give --image"),
    "unknown_class_folders": (
        lambda tmp: ["--models", shared_export(), "--task", "animals", "--evaluate",
                     labelled_folder(tmp / "photos", {"cat": 1, "cow": 1, "Dog": 1})],
        "has class folders that are not labels of the task: Dog, cow; rename or remove them "
        "(the task's labels: cat, dog, bird, fish)"),
    "evaluate_not_a_folder": (lambda tmp: ["--models", shared_export(), "--task", "animals",
                                           "--evaluate", tmp / "nowhere"], "is not a folder"),
    "evaluate_two_tasks": (lambda tmp: ["--models", shared_export(), "--task", "animals",
                                        "digits", "--evaluate", tmp],
                           "--evaluate FOLDER takes one --task"),
    "missing_task_flag": (lambda tmp: ["--models", shared_export()],
                          "the following arguments are required: --task"),
    "bad_headroom": (lambda tmp: ["--models", shared_export(), "--task", "animals",
                                  "--simulate-memory", "1GB", "--headroom", "lots"],
                     "argument --headroom: bad memory value 'lots'"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line_without_traceback(case, tmp_path):
    make_args, message = BAD_INPUTS[case]
    result = run_cli(*make_args(tmp_path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert result.stdout == ""


@pytest.mark.parametrize("text, expected", [
    ("123", 123), ("300MB", 300_000_000), ("1.5GiB", 3 * 2**29), ("2 kib", 2048),
    (" 4g ", 4_000_000_000), ("10b", 10),
])
def test_parse_memory(text, expected):
    assert parse_memory(text) == expected


@pytest.mark.parametrize("text", ["", "MB", "-5MB", "5 parsecs", "1e9"])
def test_parse_memory_rejects(text):
    with pytest.raises(ValueError, match="bad memory value"):
        parse_memory(text)


def test_read_trace_accepts_values_or_a_file(tmp_path):
    assert read_trace("1MB, 2MB,3") == [1_000_000, 2_000_000, 3]
    path = tmp_path / "trace"
    path.write_text("1KiB\n# nothing\n\n2KiB\n", encoding="utf-8")
    assert read_trace(str(path)) == [1024, 2048]
    path.write_text("# only a comment\n", encoding="utf-8")
    with pytest.raises(ValueError, match="has no values"):
        read_trace(str(path))
