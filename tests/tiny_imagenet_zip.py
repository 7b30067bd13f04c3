"""Test helper: a small Tiny-ImageNet zip in the official layout, in tfds's manual dir.

The layout is that of tiny-imagenet-200.zip: `wnids.txt`, `words.txt`,
`train/<wnid>/images/<wnid>_<i>.JPEG` (with `<wnid>_boxes.txt`),
`val/images/*.JPEG` labelled by `val/val_annotations.txt`, and unlabelled
`test/images/`.
"""

import io
import zipfile

from PIL import Image

from dvn_tf.data import tiny_imagenet

ROOT = "tiny-imagenet-200/"


def jpeg(gray_level, mode="RGB", size=64):
    """JPEG bytes of a flat gray image (`mode` "L" for a grayscale file, as some real ones are)."""
    image = Image.new(mode, (size, size), color=(gray_level,) * len(mode))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return buffer.getvalue()


def write_zip(path, wnids, words, train, validation):
    """Write the zip to `path`.

    Args:
      wnids: class ids in `wnids.txt` order.
      words: wnid -> words, written to `words.txt` (may hold other wnids).
      train: wnid -> list of JPEG bytes, its training images.
      validation: [(file name, wnid, JPEG bytes)] in `val_annotations.txt` order.
    """
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(ROOT + "wnids.txt", "\n".join(wnids) + "\n")
        archive.writestr(ROOT + "words.txt", "".join(
            f"{wnid}\t{text}\n" for wnid, text in words.items()))
        for wnid in wnids:
            folder = f"{ROOT}train/{wnid}/"
            archive.writestr(f"{folder}{wnid}_boxes.txt", "")
            for i, image in enumerate(train[wnid]):
                archive.writestr(f"{folder}images/{wnid}_{i}.JPEG", image)
        archive.writestr(ROOT + "val/val_annotations.txt", "".join(
            f"{name}\t{wnid}\t0\t0\t63\t63\n" for name, wnid, _ in validation))
        for name, _, image in validation:
            archive.writestr(ROOT + "val/images/" + name, image)
        archive.writestr(ROOT + "test/images/test_0.JPEG", jpeg(128))


def data_dir_with_zip(path, **zip_contents):
    """Make `path` a tfds data dir whose manual dir holds the zip; return `path`."""
    manual = path / "downloads" / "manual"
    manual.mkdir(parents=True)
    write_zip(manual / tiny_imagenet.ZIP_NAME, **zip_contents)
    return path


def many_classes_data_dir(path, num_classes=200, train_per_class=1, validation_per_class=1):
    """A data dir with a zip of `num_classes` wnids and a few images each; the class's gray
    level is `wnid_gray_level(index)`."""
    wnids = [f"n{index:08d}" for index in range(num_classes)]
    words = {wnid: f"class {index}" for index, wnid in enumerate(wnids)}
    train = {wnid: [jpeg(wnid_gray_level(index))] * train_per_class
             for index, wnid in enumerate(wnids)}
    validation = [(f"val_{index}_{i}.JPEG", wnid, jpeg(wnid_gray_level(index)))
                  for index, wnid in enumerate(wnids) for i in range(validation_per_class)]
    return data_dir_with_zip(path, wnids=wnids, words=words, train=train,
                             validation=validation)


def wnid_gray_level(index):
    """The flat gray level of class `index`'s images in `many_classes_data_dir`."""
    return 16 + index % 224
