"""`python -m dvn_tf.train --images=...` as a user runs it: bad folders, and Fashion-MNIST
written out as JPEG folders trained, exported and classified by the runtime."""

import json
import os
import re
import subprocess
import sys

import pytest

from tests.test_folder_data import write_classes, write_image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def command(module, *args):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)


def unreadable_class(root):
    write_classes(root, ["a"])
    os.makedirs(os.path.join(root, "b"))
    with open(os.path.join(root, "b", "x.jpg"), "wb") as file:
        file.write(b"\xff\xd8 truncated")
    with open(os.path.join(root, "b", "notes.txt"), "w") as file:
        file.write("no image here")


@pytest.mark.parametrize("make, flags, message", [
    (lambda root: None, ["--images={root}"], "images folder '{root}' does not exist"),
    (lambda root: write_image(os.path.join(root, "a.png")), ["--images={root}"],
     "holds images but no class sub-folders"),
    (lambda root: write_classes(root, ["only"]), ["--images={root}"], "has one class (only)"),
    (unreadable_class, ["--images={root}"], "class 'b' of {root} has no readable training image"),
    (lambda root: (write_classes(root, ["a", "b"]), write_classes(os.path.join(root, "c"), ["d"])),
     ["--images={root}"], "images at two depths in {root}"),
    (lambda root: write_classes(root, ["a", "b"]), ["--images={root}", "--images={root}"],
     "two tasks are named 'data'"),
    (lambda root: write_classes(root, ["a", "b"]), ["--images={root}", "--scenario=digits"],
     "--images sets the tasks of the images scenario; drop --scenario=digits"),
    (lambda root: None, ["--scenario=images"], "pass --images=PATH"),
])
def test_a_bad_folder_is_one_line_and_the_workdir_is_not_touched(tmp_path, make, flags, message):
    root, workdir = str(tmp_path / "data"), tmp_path / "run"
    make(root)
    run = command("dvn_tf.train", *[f.format(root=root) for f in flags], f"--workdir={workdir}")
    assert run.returncode == 2
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message.format(root=root) in lines[0], run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    assert not workdir.exists()


@pytest.fixture(scope="module")
def fashion_folder_run(tmp_path_factory):
    """Fashion-MNIST as JPEGs in train/GROUP/CLASS and test/GROUP/CLASS, trained for 3 epochs."""
    from dvn_tf.data.fashion_folders import write_fashion_folders

    root = tmp_path_factory.mktemp("fashion") / "fashion"
    write_fashion_folders(str(root), per_class=40, held_out_per_class=10)
    workdir = root.parent / "run"
    run = command("dvn_tf.train", f"--images=clothes={root}", f"--workdir={workdir}",
                  "--config.epochs=3", "--config.batch_size=32")
    assert run.returncode == 0, run.stderr[-3000:]
    return root, workdir, run.stdout


@pytest.mark.slow
def test_fashion_folders_train_with_their_folder_names_and_split(fashion_folder_run):
    root, workdir, stdout = fashion_folder_run
    results = json.loads((workdir / "results.json").read_text())
    tasks = {task["name"]: task["num_classes"] for task in results["tasks"]}
    assert results["scenario"] == "images" and tasks == {"clothes_coarse": 3, "clothes_fine": 10}
    accuracy = {(e["task"], e["level"]): e["accuracy"] for e in results["entries"]}
    assert min(accuracy[("clothes_coarse", level)] for level in (1, 2)) > 0.6  # chance: 0.6
    assert min(accuracy[("clothes_fine", level)] for level in (1, 2)) > 0.2  # chance: 0.1
    assert "Decoding 500 images" in stdout
    assert "400 training images, 100 held out (folders train/ and test/), 28x28x1" in stdout
    assert re.search(r"^  Ankle boot +40 +10$", stdout, re.MULTILINE)


@pytest.mark.slow
def test_fashion_folders_export_and_the_runtime_classifies_a_jpeg(fashion_folder_run):
    root, workdir, _ = fashion_folder_run
    export = command("export", f"--workdir={workdir}", "--runs=2")
    assert export.returncode == 0, export.stderr[-3000:]
    assert "Decoding" not in export.stdout  # the export reads the images the run decoded
    manifest = json.loads((workdir / "tflite" / "manifest.json").read_text())
    labels = {task["name"]: task["labels"] for task in manifest["tasks"]}
    assert labels["clothes_coarse"] == ["bag", "clothing", "footwear"]
    assert labels["clothes_fine"][:2] == ["Bag", "Coat"] and "Ankle boot" in labels["clothes_fine"]
    samples = sorted(os.listdir(workdir / "tflite" / "samples" / "clothes_fine"))
    assert len({name.split("_", 1)[1] for name in samples}) > 3  # held-out images of many classes
    image = root / "test" / "footwear" / "Sneaker" / "00000.jpg"
    classify = command("dvn_runtime", "--models", str(workdir / "tflite"), "--task",
                       "clothes_coarse", "--image", str(image))
    assert classify.returncode == 0, classify.stderr[-2000:]
    top = next(line for line in classify.stdout.splitlines() if line.strip().startswith("1."))
    assert top.split()[1] == "footwear", classify.stdout
