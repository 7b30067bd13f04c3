"""Folders of images as tasks: layouts, formats and modes, junk, splits, the cache in the workdir."""

import io
import json
import os

import ml_collections
import numpy as np
import pytest
from PIL import Image

from configs import images as images_scenario
from dvn_tf.data.folder_cache import (decode_image, default_image_size, image_flag_tasks,
                                      prepare_folders, read_prepared)
from dvn_tf.data.folder_tree import FolderError, scan
from sixteen_bit_images import write_twins

SIZE = 16


def write_image(path, color=(200, 30, 30), mode="RGB", size=(24, 20), image_format=None):
    """An image file of one color (a gray level for mode L) at path, its folders made."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    image = Image.new(mode, size, color)
    image.save(path, image_format)
    return path


def write_classes(root, classes, per_class=3, **kwargs):
    """root/CLASS/NN.png for each class name."""
    for name in classes:
        for number in range(per_class):
            write_image(os.path.join(root, name, f"{number:02d}.png"), **kwargs)


def folder_config(*specs, **fields):
    """The images scenario with the given task specs."""
    config = images_scenario.get_config()
    config.tasks = tuple(specs)
    config.update(fields)
    return config


def prepared_folders(config, workdir, log=None):
    """Decode and save every folder of config into workdir; the printed lines."""
    lines = []
    for decode in prepare_folders(config, str(workdir), log=(log or lines.append)):
        decode().save()
    return lines


def test_every_format_and_mode_decodes_upright_as_rgb(tmp_path):
    cases = {
        "gray.png": ("L", 90, "PNG"),
        "rgb.jpg": ("RGB", (10, 200, 40), "JPEG"),
        "rgba.png": ("RGBA", (10, 20, 250, 128), "PNG"),
        "palette.gif": ("P", 3, "GIF"),
        "rgb.bmp": ("RGB", (120, 0, 0), "BMP"),
        "rgb.webp": ("RGB", (0, 0, 180), "WEBP"),
    }
    for name, (mode, color, image_format) in cases.items():
        path = write_image(str(tmp_path / name), color, mode, image_format=image_format)
        pixels, error = decode_image(path, SIZE)
        assert error is None, (name, error)
        assert pixels.shape == (SIZE, SIZE, 3) and pixels.dtype == np.uint8
        expected = np.asarray(Image.open(path).convert("RGB"))[0, 0]
        assert np.abs(pixels.astype(int) - expected).max() <= 6, name  # lossy JPEG, WebP


@pytest.mark.parametrize("name", ["gray PNG", "gray TIFF", "RGB PNG"])
def test_16_bit_image_decodes_as_its_8_bit_twin(tmp_path, name):
    wide, narrow = write_twins(tmp_path)[name]
    pixels, error = decode_image(wide, SIZE)
    assert error is None, error
    expected, _ = decode_image(narrow, SIZE)
    assert np.abs(pixels.astype(int) - expected).max() <= 1
    assert np.mean(pixels == 255) < 0.05  # clipped, nearly every pixel was 255


def test_tiff_files_are_images_of_a_folder(tmp_path):
    for name in ("a", "b"):
        write_image(str(tmp_path / "scans" / name / "01.tif"), image_format="TIFF")
        write_image(str(tmp_path / "scans" / name / "02.tiff"), image_format="TIFF")
    assert sorted(scan(tmp_path / "scans").files) == ["a/01.tif", "a/02.tiff", "b/01.tif",
                                                      "b/02.tiff"]


def test_exif_orientation_is_applied(tmp_path):
    # 40 x 20, left half black, right half white; EXIF 6 says "rotate 90 degrees clockwise to view".
    image = Image.new("L", (40, 20), 0)
    image.paste(255, (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = str(tmp_path / "turned.png")
    image.save(path, exif=exif)
    pixels, error = decode_image(path, SIZE)
    assert error is None
    upright = np.asarray(image.transpose(Image.Transpose.ROTATE_270)
                         .resize((SIZE, SIZE), Image.Resampling.BILINEAR))
    assert np.array_equal(pixels[..., 0], upright)  # white on the bottom, black on top
    assert pixels[0, SIZE // 2, 0] < 10 and pixels[-1, SIZE // 2, 0] > 245


def test_flat_folder_gives_one_task_with_sorted_class_names(tmp_path):
    write_classes(tmp_path / "tools", ["wrench", "hammer", "saw"])
    specs = image_flag_tasks([str(tmp_path / "tools")])
    assert specs == [{"name": "tools", "dataset": "folder", "path": str(tmp_path / "tools")}]
    tree = scan(tmp_path / "tools")
    assert tree.classes == ["hammer", "saw", "wrench"] and tree.groups is None
    assert len(tree.files) == 9 and tree.split_of_file is None


def test_grouped_tree_gives_coarse_and_fine_tasks(tmp_path):
    write_classes(tmp_path / "parts" / "bolts", ["m4", "m6"])
    write_classes(tmp_path / "parts" / "nuts", ["hex", "wing"])
    specs = image_flag_tasks([f"mine={tmp_path / 'parts'}"])
    assert [(s["name"], s["granularity"]) for s in specs] == [("mine_coarse", "coarse"),
                                                            ("mine_fine", "fine")]
    tree = scan(tmp_path / "parts")
    assert tree.groups == ["bolts", "nuts"]
    assert tree.classes == ["m4", "m6", "hex", "wing"]
    assert tree.group_of_class == [0, 0, 1, 1]


def test_a_class_name_repeated_across_groups_is_labelled_group_slash_class(tmp_path):
    write_classes(tmp_path / "t" / "a", ["other", "x"])
    write_classes(tmp_path / "t" / "b", ["other", "y"])
    assert scan(tmp_path / "t").classes == ["a/other", "a/x", "b/other", "b/y"]


def test_train_and_val_folders_are_the_held_out_split(tmp_path):
    write_classes(tmp_path / "d" / "train", ["a", "b"], per_class=4)
    write_classes(tmp_path / "d" / "val", ["a", "b"], per_class=2)
    tree = scan(tmp_path / "d")
    assert tree.classes == ["a", "b"] and tree.held_out_folder == "val"
    assert sorted(tree.split_of_file).count("test") == 4


@pytest.mark.parametrize("make, message", [
    (lambda root: None, "does not exist"),
    (lambda root: write_image(os.path.join(root, "a.png")), "no class sub-folders"),
    (lambda root: write_classes(root, ["only"]), r"has one class \(only\)"),
    (lambda root: (write_classes(root, ["a", "b"]), os.makedirs(os.path.join(root, "c"))),
     "class folder"),
    (lambda root: (write_classes(root, ["a", "b"]), write_image(os.path.join(root, "x.png"))),
     "images at two depths"),
    (lambda root: (write_classes(root, ["a"]), write_classes(os.path.join(root, "g"), ["b"])),
     "images at two depths"),
    (lambda root: (write_classes(os.path.join(root, "train"), ["a", "b"]),
                   write_classes(os.path.join(root, "test"), ["a", "c"])),
     "is a class that"),
])
def test_a_layout_it_cannot_use_is_one_error_line(tmp_path, make, message):
    root = str(tmp_path / "data")
    make(root)
    with pytest.raises(FolderError, match=message) as error:
        scan(root)
    assert "\n" not in str(error.value)


def test_junk_is_skipped_counted_and_listed(tmp_path):
    root = tmp_path / "data"
    write_classes(root, ["a", "b"])
    (root / "a" / "notes.txt").write_text("not an image")
    (root / "a" / ".DS_Store").write_bytes(b"\0\0")
    (root / "b" / "empty.jpg").write_bytes(b"")
    whole = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(whole, "JPEG")
    (root / "b" / "truncated.jpg").write_bytes(whole.getvalue()[:200])
    write_image(str(root / "__MACOSX" / "a" / "._00.png"))
    config = folder_config({"name": "t", "dataset": "folder", "path": str(root)}, image_size=8)
    lines = prepared_folders(config, tmp_path / "run")
    prepared = read_prepared(str(tmp_path / "run" / "data" / os.listdir(tmp_path / "run" / "data")[0]))
    skipped = dict(prepared.index["skipped"])
    assert set(skipped) == {"__MACOSX/", "a/notes.txt", "a/.DS_Store", "b/empty.jpg",
                            "b/truncated.jpg"}
    assert skipped["b/truncated.jpg"].startswith("cannot decode")
    assert len(prepared.index["files"]) == 6 and prepared.images().shape == (6, 8, 8, 3)
    listed = (tmp_path / "run" / "data" / os.listdir(tmp_path / "run" / "data")[0] /
              "skipped.txt").read_text().splitlines()
    assert len(listed) == 5
    [line] = [line for line in lines if line.startswith("Skipped")]
    assert line.startswith(f"Skipped 5 files of {root}:") and "skipped.txt" in line


def test_a_class_with_no_decodable_image_is_refused(tmp_path):
    root = tmp_path / "data"
    write_classes(root, ["a"])
    os.makedirs(root / "b")
    (root / "b" / "broken.png").write_bytes(b"\x89PNG not really")
    config = folder_config({"name": "t", "dataset": "folder", "path": str(root)}, image_size=8)
    with pytest.raises(FolderError, match="class 'b' of .* has no readable training image"):
        prepared_folders(config, tmp_path / "run")


def test_gray_folders_keep_one_channel_and_colour_gives_three(tmp_path):
    write_classes(tmp_path / "gray", ["a", "b"], mode="L", color=100)
    write_classes(tmp_path / "mixed", ["a", "b"], mode="L", color=100)
    write_image(str(tmp_path / "mixed" / "b" / "colour.jpg"), (200, 10, 10))
    config = folder_config({"name": "g", "dataset": "folder", "path": str(tmp_path / "gray")},
                           {"name": "m", "dataset": "folder", "path": str(tmp_path / "mixed")},
                           image_size=8)
    prepared_folders(config, tmp_path / "run")
    data = tmp_path / "run" / "data"
    channels = {name.split("-")[0]: read_prepared(str(data / name)).index["channels"]
                for name in os.listdir(data)}
    assert channels == {"gray": 1, "mixed": 3}


def test_class_size_warnings(tmp_path):
    root = tmp_path / "data"
    write_classes(root, ["big"], per_class=40)
    write_classes(root, ["small"], per_class=3)
    config = folder_config({"name": "t", "dataset": "folder", "path": str(root)}, image_size=4)
    lines = prepared_folders(config, tmp_path / "run")
    assert any("fewer than 10 training images: small (3)" in line for line in lines)
    assert any("differ by 13x (big: 40, small: 3)" in line for line in lines)


def test_default_image_size_is_the_median_shorter_side_capped(tmp_path):
    for number, size in enumerate([(30, 20), (50, 40), (90, 100)]):
        write_image(str(tmp_path / "d" / "a" / f"{number}.png"), size=size)
        write_image(str(tmp_path / "d" / "b" / f"{number}.png"), size=size)
    tree = scan(tmp_path / "d")
    assert default_image_size([tree], "resnet-8") == (40, 40)
    write_classes(tmp_path / "big", ["a", "b"], size=(400, 300))
    assert default_image_size([scan(tmp_path / "big")], "resnet-8") == (64, 300)
    assert default_image_size([scan(tmp_path / "big")], "mobilenetv2") == (128, 300)
    config = folder_config({"name": "t", "dataset": "folder", "path": str(tmp_path / "d")})
    lines = prepared_folders(config, tmp_path / "run")
    assert config.image_size == 40 and lines[0].startswith("Image size 40x40")


def test_the_cache_is_decoded_once_and_again_only_when_the_folder_changes(tmp_path):
    root = tmp_path / "data"
    write_classes(root, ["a", "b"])
    config = folder_config({"name": "t", "dataset": "folder", "path": str(root)})
    prepared_folders(config, tmp_path / "run")
    assert config.image_size == 20
    again = folder_config({"name": "t", "dataset": "folder", "path": str(root)})
    assert prepare_folders(again, str(tmp_path / "run")) == []  # nothing to decode
    assert again.image_size == 20  # the size prepared before
    write_image(str(root / "a" / "new.png"))
    lines = []
    [decode] = prepare_folders(again, str(tmp_path / "run"), log=lines.append)
    assert "changed since it was prepared" in lines[0]
    assert len(decode().index["files"]) == 7


def test_a_gone_folder_is_read_from_the_cache(tmp_path):
    root = tmp_path / "data"
    write_classes(root, ["a", "b"])
    config = folder_config({"name": "t", "dataset": "folder", "path": str(root)}, image_size=8)
    prepared_folders(config, tmp_path / "run")
    for name in ("a", "b"):
        for file in os.listdir(root / name):
            os.remove(root / name / file)
        os.rmdir(root / name)
    os.rmdir(root)
    assert prepare_folders(config, str(tmp_path / "run")) == []
    config.image_size = 16
    with pytest.raises(FolderError, match=r"holds it decoded at \[8\] px, not 16"):
        prepare_folders(config, str(tmp_path / "run"))


def test_classes_that_change_under_a_started_run_are_refused(tmp_path):
    root = tmp_path / "data"
    write_classes(root, ["a", "b"])
    config = folder_config({"name": "t", "dataset": "folder", "path": str(root)}, image_size=8)
    prepared_folders(config, tmp_path / "run")
    (tmp_path / "run" / "config.json").write_text(json.dumps(config.to_dict()))
    write_classes(root, ["c"])
    with pytest.raises(FolderError, match="changed since the run"):
        prepare_folders(config, str(tmp_path / "run"))


def test_task_names_must_differ(tmp_path):
    write_classes(tmp_path / "x" / "cats", ["a", "b"])
    write_classes(tmp_path / "y" / "cats", ["a", "b"])
    specs = image_flag_tasks([str(tmp_path / "x" / "cats"), str(tmp_path / "y" / "cats")])
    with pytest.raises(FolderError, match="two tasks are named 'cats'"):
        prepare_folders(folder_config(*specs), str(tmp_path / "run"))


def test_loaded_tasks_share_the_split_and_normalize_with_training_statistics(tmp_path):
    from dvn_tf.data import load_tasks

    write_classes(tmp_path / "t" / "g1", ["a", "b"], per_class=10, mode="L", color=60)
    write_classes(tmp_path / "t" / "g2", ["c"], per_class=10, mode="L", color=200)
    specs = image_flag_tasks([str(tmp_path / "t")])
    config = folder_config(*specs, image_size=8, seed=1, holdout=0.2)
    coarse, fine = load_tasks(config, str(tmp_path / "run"))
    assert coarse.labels == ["g1", "g2"] and fine.labels == ["a", "b", "c"]
    assert coarse.input_shape == fine.input_shape == (8, 8, 1)
    assert (coarse.train_size, coarse.test_size) == (fine.train_size, fine.test_size) == (24, 6)
    expected_mean = (20 * 60 + 10 * 200) / 30 / 255  # every class loses 2 of 10 to the split
    assert coarse.mean == pytest.approx([expected_mean], abs=1e-6)
    fine_labels = [int(label) for _, label in fine.test]
    coarse_labels = [int(label) for _, label in coarse.test]
    assert sorted(fine_labels) == [0, 0, 1, 1, 2, 2]
    assert coarse_labels == [[0, 0, 1][label] for label in fine_labels]  # the same images
    normalized = np.stack([image.numpy() for image, _ in fine.test])
    assert np.allclose(normalized * coarse.std[0] + coarse.mean[0],
                       np.asarray([[60, 60, 200][label] for label in fine_labels])[
                           :, None, None, None] / 255, atol=1e-5)
    cached = json.loads(next((tmp_path / "run" / "data").glob("*/normalization.json")).read_text())
    assert len(cached) == 1


def test_train_examples_keeps_a_seeded_subset(tmp_path):
    from dvn_tf.data import load_tasks

    write_classes(tmp_path / "d", ["a", "b"], per_class=10)
    spec = {"name": "t", "dataset": "folder", "path": str(tmp_path / "d")}
    task, = load_tasks(folder_config(spec, image_size=4, train_examples=5), str(tmp_path / "r"))
    assert task.train_size == 5 and len(list(task.train)) == 5


def test_training_batches_are_padded_crops_and_flips_of_the_training_images(tmp_path):
    from dvn_tf.data import load_tasks
    from dvn_tf.data.pipeline import training_dataset

    rng = np.random.default_rng(0)
    for label, name in enumerate(["a", "b"]):
        for number in range(6):
            path = tmp_path / "d" / name / f"{number}.png"
            os.makedirs(path.parent, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(path)
    spec = {"name": "t", "dataset": "folder", "path": str(tmp_path / "d")}
    task, = load_tasks(folder_config(spec, image_size=8, holdout=0.5), str(tmp_path / "r"))
    originals = {int(label): [] for label in (0, 1)}
    for image, label in load_tasks(folder_config({**spec, "augment": "none"}, image_size=8,
                                                 holdout=0.5), str(tmp_path / "r"))[0].train:
        originals[int(label)].append(image.numpy()[..., 0] * task.std[0] + task.mean[0])
    batches = iter(training_dataset([task], batch_size=6, seed=0))
    passes = [next(batches)["t"] for _ in range(4)]
    changed = 0
    for images, labels in passes:
        for image, label in zip(images.numpy()[..., 0], labels.numpy()):
            pixels = image * task.std[0] + task.mean[0]
            windows = [np.pad(original, 1)[y:y + 8, x:x + 8][:, ::flip]
                       for original in originals[int(label)] for y in range(3) for x in range(3)
                       for flip in (1, -1)]
            assert min(np.abs(pixels - window).max() for window in windows) < 1e-4
            changed += not any(np.abs(pixels - o).max() < 1e-4 for o in originals[int(label)])
    assert changed > 0
    assert not np.array_equal(passes[0][0].numpy(), passes[1][0].numpy())
