"""Fashion-MNIST, from Debian's files, written out as folders of images: --images on real data.

    python -m dvn_tf.data.fashion_folders DIR [--per-class=N] [--held-out-per-class=M]
                                              [--format=jpeg|png] [--flat]
                                              [--classes=A,B,...] [--train-count=CLASS=N ...]

writes DIR/train/GROUP/CLASS/NNNNN.jpg and DIR/test/GROUP/CLASS/NNNNN.jpg, the
groups as in the fashion_h scenario (clothing, footwear, bag); with --flat,
DIR/train/CLASS/ and DIR/test/CLASS/; --classes keeps those classes only, and
--train-count gives a class another number of training images (an imbalanced
folder). Then:
python -m dvn_tf.train --images=DIR --workdir=runs/fashion_folders
"""

import argparse
import gzip
import os
import sys

import numpy as np
from PIL import Image

from dvn_tf.data.debian_fashion_mnist import DEBIAN_DIR, DEBIAN_PACKAGE, files_present

CLASS_NAMES = ("T-shirt-top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")
GROUPS = {"clothing": (0, 1, 2, 3, 4, 6), "footwear": (5, 7, 9), "bag": (8,)}
SPLIT_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
               "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
FORMATS = {"jpeg": ("JPEG", ".jpg"), "png": ("PNG", ".png")}


def read_split(split, directory=DEBIAN_DIR):
    """(uint8 images [N, 28, 28], uint8 labels [N]) of Fashion-MNIST's `train` or `test` split."""
    images_file, labels_file = SPLIT_FILES[split]
    with gzip.open(os.path.join(directory, images_file)) as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(directory, labels_file)) as file:
        labels = np.frombuffer(file.read(), np.uint8, offset=8)
    return images, labels


def class_folder(label, grouped):
    """CLASS, or GROUP/CLASS, of a Fashion-MNIST label."""
    if not grouped:
        return CLASS_NAMES[label]
    group = next(name for name, labels in GROUPS.items() if label in labels)
    return os.path.join(group, CLASS_NAMES[label])


def write_fashion_folders(directory, per_class=600, held_out_per_class=100, image_format="jpeg",
                          grouped=True, source=DEBIAN_DIR, classes=CLASS_NAMES, train_counts=None):
    """Write the first `per_class` training and `held_out_per_class` test images of each class.

    `classes` names the classes written; `train_counts` ({class name: N})
    gives a class N training images instead. Returns the number of files written.
    """
    pil_format, extension = FORMATS[image_format]
    train_counts = train_counts or {}
    written = 0
    for split, default in (("train", per_class), ("test", held_out_per_class)):
        images, labels = read_split(split, source)
        for name in classes:
            label = CLASS_NAMES.index(name)
            count = train_counts.get(name, default) if split == "train" else default
            folder = os.path.join(directory, split, class_folder(label, grouped))
            os.makedirs(folder, exist_ok=True)
            for number, index in enumerate(np.flatnonzero(labels == label)[:count]):
                Image.fromarray(images[index]).save(
                    os.path.join(folder, f"{number:05d}{extension}"), pil_format)
                written += 1
    return written


def main(argv=None):
    """The command line; one-line errors."""
    parser = argparse.ArgumentParser(
        prog="python -m dvn_tf.data.fashion_folders",
        description="Write Fashion-MNIST (Debian's dataset-fashion-mnist) as folders of images.")
    parser.add_argument("directory")
    parser.add_argument("--per-class", type=int, default=600, help="training images per class")
    parser.add_argument("--held-out-per-class", type=int, default=100,
                        help="test images per class")
    parser.add_argument("--format", choices=sorted(FORMATS), default="jpeg")
    parser.add_argument("--flat", action="store_true", help="CLASS folders, no GROUP level")
    parser.add_argument("--classes", default=",".join(CLASS_NAMES),
                        help="comma-separated class names to write (default: all ten)")
    parser.add_argument("--train-count", action="append", default=[], metavar="CLASS=N",
                        help="training images of one class instead of --per-class; repeatable")
    args = parser.parse_args(argv)
    classes = args.classes.split(",")
    try:
        train_counts = {name: int(count) for name, count in
                        (value.rsplit("=", 1) for value in args.train_count)}
    except ValueError:
        parser.exit(2, f"{parser.prog}: error: --train-count takes CLASS=N, got "
                       f"{args.train_count}\n")
    unknown = [name for name in [*classes, *train_counts] if name not in CLASS_NAMES]
    if unknown:
        parser.exit(2, f"{parser.prog}: error: unknown class {unknown[0]!r}; the classes are "
                       f"{', '.join(CLASS_NAMES)}\n")
    if not files_present():
        parser.exit(2, f"{parser.prog}: error: no Fashion-MNIST files in {DEBIAN_DIR}; install "
                       f"them with `apt-get install {DEBIAN_PACKAGE}`\n")
    if min(args.per_class, args.held_out_per_class, *train_counts.values()) < 1:
        parser.exit(2, f"{parser.prog}: error: --per-class, --held-out-per-class and "
                       "--train-count must be at least 1\n")
    count = write_fashion_folders(args.directory, args.per_class, args.held_out_per_class,
                                  args.format, grouped=not args.flat, classes=classes,
                                  train_counts=train_counts)
    print(f"Wrote {count:,} images into {args.directory} (train/ and test/)")


if __name__ == "__main__":
    sys.exit(main())
