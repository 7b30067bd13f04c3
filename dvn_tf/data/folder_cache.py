"""Decodes a folder of images once, into the run's workdir (no TensorFlow).

Every image of a folder is decoded by the runtime's own decode
(dvn_runtime/preprocess.py): turned upright by its EXIF orientation, 16-bit
pixels scaled to 8 bits, converted to RGB and resized to N x N with Pillow's
bilinear filter. The pixels go to
WORKDIR/data/NAME-HASH-Npx/images.npy, one channel when every image is gray,
and index.json beside them names the classes, the files and what was
skipped. A later epoch, a resumed run and the export read that cache; the
images are decoded again only when the folder's files change.

`prepare_folders(config, workdir)` checks the folders and returns the
decodes still to do; a decode works in memory, and the train CLI saves its
result only once the workdir may be written.
"""

import concurrent.futures
import dataclasses
import functools
import hashlib
import json
import os
import re
import statistics
import time
import warnings

import numpy as np
from PIL import Image

from dvn_runtime.preprocess import ImageError, decode
from dvn_tf.data.folder_tree import FolderError, scan, task_name_of
from dvn_tf.files import read_json, write_atomically, write_text_atomically

FOLDER_DATASET = "folder"
GRANULARITIES = ("fine", "coarse")  # a grouped tree's classes, or its groups
CACHE_FOLDER = "data"
IMAGES_FILE = "images.npy"
INDEX_FILE = "index.json"
SKIPPED_FILE = "skipped.txt"
# The default image side: the median image's shorter side, at most this (a CPU-sized default).
SIZE_CAP = {"mobilenetv2": 128}
DEFAULT_SIZE_CAP = 64
FEW_IMAGES = 10  # a class with fewer images gets a warning
IMBALANCE = 10  # and so do class sizes that differ by more than this factor
SHOWN = 5  # skipped files named on the console
PROGRESS_SECONDS = 5


@dataclasses.dataclass
class PreparedFolder:
    """A folder's decoded images and their index; `save()` writes them into the workdir.

    `index` holds the FolderTree's fields (classes, groups, files, labels,
    split) and `image_size`, `channels`, `fingerprint` and `skipped`.
    """

    directory: str
    index: dict
    pixels: np.ndarray = None

    def save(self):
        """Write skipped.txt, images.npy and, last, index.json (a kill leaves no index)."""
        os.makedirs(self.directory, exist_ok=True)
        write_text_atomically(os.path.join(self.directory, SKIPPED_FILE), "".join(
            f"{path}\t{reason}\n" for path, reason in self.index["skipped"]))
        write_atomically(os.path.join(self.directory, IMAGES_FILE),
                         lambda file: np.save(file, self.pixels), mode="wb")
        write_text_atomically(os.path.join(self.directory, INDEX_FILE),
                              json.dumps(self.index, indent=0))

    def images(self):
        """The decoded images, uint8 [N, size, size, channels] (memory-mapped when saved)."""
        if self.pixels is None:
            self.pixels = np.load(os.path.join(self.directory, IMAGES_FILE), mmap_mode="r")
        return self.pixels


def folder_specs(config):
    """The task specs of `config` whose dataset is a folder."""
    return [spec for spec in config.tasks if spec["dataset"] == FOLDER_DATASET]


def decoding_workdir(spec, workdir):
    """Where a folder task's images are decoded: the spec's `workdir` (a task kept from the
    run that a grown run grows, dvn_tf/grow.py), else the run's own."""
    return spec.get("workdir") or workdir


def image_flag_tasks(values):
    """Task specs of `--images=[NAME=]PATH` values: one per folder, two for a GROUP/CLASS tree.

    A grouped tree gives the tasks NAME_coarse (its groups) and NAME_fine (its
    classes). Raises FolderError for a folder it cannot use.
    """
    specs = []
    for value in values:
        named = "=" in value and os.sep not in value.split("=", 1)[0]
        name, path = value.split("=", 1) if named else (None, value)
        if not path:
            raise FolderError(f"--images={value}: give a folder, --images=PATH or "
                              "--images=NAME=PATH")
        tree = scan(path)
        name = name or task_name_of(path)
        spec = {"dataset": FOLDER_DATASET, "path": tree.root}
        if tree.groups is None:
            specs.append({"name": name, **spec})
        else:
            specs += [{"name": f"{name}_{granularity}", **spec, "granularity": granularity}
                      for granularity in reversed(GRANULARITIES)]
    return specs


def check_task_names(tasks):
    """FolderError unless every task has its own name, usable in a file name."""
    seen = set()
    for spec in tasks:
        name = spec["name"]
        if not re.fullmatch(r"[A-Za-z0-9_-]+", name or ""):
            raise FolderError(f"task name {name!r}: use letters, digits, '_' and '-' "
                              "(with --images, NAME=PATH names a task)")
        if name in seen:
            raise FolderError(f"two tasks are named {name!r}; give each its own name "
                              "(with --images, NAME=PATH names a task)")
        seen.add(name)


def root_of(spec):
    """The absolute path of a folder task's folder."""
    return os.path.abspath(os.path.expanduser(spec["path"]))


def image_size_of(spec, config):
    """The side a folder task's images are resized to: the spec's, else the config's."""
    return spec.get("image_size") or config.get("image_size")


def cache_directory(workdir, root, size):
    """WORKDIR/data/NAME-HASH-SIZEpx: where a folder's images at one size are kept."""
    digest = hashlib.sha256(root.encode()).hexdigest()[:8]
    return os.path.join(workdir, CACHE_FOLDER, f"{task_name_of(root)}-{digest}-{size}px")


def read_prepared(directory):
    """The PreparedFolder saved in `directory`, or None."""
    path = os.path.join(directory, INDEX_FILE)
    if not os.path.exists(path):
        return None
    return PreparedFolder(directory, read_json(path))


def prepare_folders(config, workdir, log=print):
    """Check the folder tasks of `config`; return the decodes `workdir` still needs.

    Reads the folders' layouts and sets `config.image_size` when unset (the
    size prepared before, else `default_image_size`), decoding nothing. Each
    returned function decodes one folder and returns its PreparedFolder, to
    `save()`: the train CLI calls them before it writes into the workdir. A
    folder that is gone is read from the workdir's cache. Raises FolderError.
    """
    check_task_names(config.tasks)
    specs = [spec for spec in folder_specs(config) if not spec.get("workdir")]
    roots = sorted({root_of(spec) for spec in specs})
    trees = {root: scan(root) for root in roots
             if os.path.isdir(root) or not _cached_sizes(workdir, root)}
    for spec in specs:
        _check_granularity(spec, trees.get(root_of(spec)))
    if specs and config.get("image_size") is None:
        config.image_size = _resolved_size(config, workdir, roots, trees, log)
    for spec in specs:
        if root_of(spec) not in trees and image_size_of(spec, config) not in _cached_sizes(
                workdir, root_of(spec)):
            raise FolderError(f"images folder {spec['path']!r} does not exist, and {workdir} "
                              f"holds it decoded at {_cached_sizes(workdir, root_of(spec))} px, "
                              f"not {image_size_of(spec, config)}; pass the folder again")
    decodes = []
    for root, tree in trees.items():
        for size in sorted({image_size_of(spec, config) for spec in specs
                            if root_of(spec) == root}):
            directory = cache_directory(workdir, root, size)
            cached = read_prepared(directory)
            fingerprint = tree.fingerprint()
            if cached and cached.index["fingerprint"] == fingerprint:
                continue
            if cached:
                _check_same_classes(cached, tree, workdir)
                log(f"{root} changed since it was prepared into {directory}; preparing it again")
            decodes.append(functools.partial(decode_folder, tree, size, directory, fingerprint,
                                             log))
    return decodes


def run_channels(config, workdir):
    """3 when any folder task's prepared images have colour or the run starts from ImageNet
    weights (`init_from`), else 1: a DVN has one stem for every task."""
    if config.get("init_from"):
        return 3
    return max(read_prepared(cache_directory(decoding_workdir(spec, workdir), root_of(spec),
                                             image_size_of(spec, config))).index["channels"]
               for spec in folder_specs(config))


def _check_granularity(spec, tree):
    """FolderError unless the spec's `granularity` fits its tree."""
    granularity = spec.get("granularity") or "fine"
    if granularity not in GRANULARITIES:
        raise FolderError(f"task {spec['name']!r}: granularity={granularity!r}; expected one of "
                          f"{', '.join(GRANULARITIES)}")
    if tree is not None and granularity == "coarse" and tree.groups is None:
        raise FolderError(f"task {spec['name']!r}: granularity 'coarse' needs a GROUP/CLASS "
                          f"tree, and {tree.root} has CLASS folders only")


def _check_same_classes(cached, tree, workdir):
    """FolderError when the classes changed under a run that has started in workdir."""
    if (os.path.exists(os.path.join(workdir, "config.json"))
            and (cached.index["classes"], cached.index["groups"]) != (tree.classes, tree.groups)):
        raise FolderError(f"the classes of {tree.root} changed since the run in {workdir} "
                          f"started (then: {', '.join(cached.index['classes'])}; now: "
                          f"{', '.join(tree.classes)}); pass a new --workdir")


def _cached_sizes(workdir, root):
    """The image sizes at which `workdir` holds `root` already."""
    prefix = os.path.basename(cache_directory(workdir, root, 0))[:-len("0px")]
    parent = os.path.join(workdir, CACHE_FOLDER)
    if not os.path.isdir(parent):
        return []
    return sorted(int(name[len(prefix):-2]) for name in os.listdir(parent)
                  if name.startswith(prefix) and name.endswith("px")
                  and os.path.exists(os.path.join(parent, name, INDEX_FILE)))


def _resolved_size(config, workdir, roots, trees, log):
    """The image size of a config that sets none: the size prepared before, else from the data."""
    cached = [size for root in roots for size in _cached_sizes(workdir, root)]
    if cached:
        return max(cached)
    size, median = default_image_size(trees.values(), config.backbone)
    log(f"Image size {size}x{size}: the median image's shorter side ({median} px), at most "
        f"{_size_cap(config.backbone)} for {config.backbone} by default; --config.image_size=N "
        "changes it")
    return size


def _size_cap(backbone):
    return SIZE_CAP.get(backbone.split("-")[0], DEFAULT_SIZE_CAP)


def default_image_size(trees, backbone):
    """(side, median shorter side): the median image's shorter side, capped for the backbone.

    Reads image headers only; a file whose header cannot be read is left out.
    """
    sides = []
    for tree in trees:
        for relative in tree.files:
            try:
                with Image.open(os.path.join(tree.root, relative)) as image:
                    sides.append(min(image.size))
            except Exception:  # Pillow raises many types on a bad header; decoding lists it
                continue
    median = int(statistics.median(sides)) if sides else _size_cap(backbone)
    return max(1, min(median, _size_cap(backbone))), median


def decode_folder(tree, size, directory, fingerprint, log=print):
    """A PreparedFolder of every image of `tree` at size x size (not saved yet).

    Prints progress, the skipped files and the warnings; raises FolderError
    when a class keeps no readable image.
    """
    log(f"Decoding {len(tree.files):,} images of {tree.root} at {size}x{size} (once: "
        f"they are kept in {directory})")
    pixels, errors = _decode_all(tree, size, log)
    readable = [error is None for error in errors]
    skipped = list(tree.skipped) + [(path, f"cannot decode: {error}")
                                    for path, error in zip(tree.files, errors) if error]
    keep = np.flatnonzero(readable)
    class_of_file = np.asarray(tree.class_of_file)[keep]
    train = (keep if tree.split_of_file is None
             else keep[np.asarray(tree.split_of_file)[keep] == "train"])
    counts = np.bincount(np.asarray(tree.class_of_file)[train], minlength=len(tree.classes))
    if not counts.all():
        name = tree.classes[int(np.argmin(counts))]
        raise FolderError(f"class {name!r} of {tree.root} has no readable training image; add "
                          "images that Pillow can open, or remove the folder")
    _report(tree, skipped, counts, directory, log)
    pixels = pixels[keep]
    gray = bool((pixels == pixels[..., :1]).all())
    index = {
        "root": tree.root, "image_size": size, "channels": 1 if gray else 3,
        "classes": tree.classes, "groups": tree.groups, "group_of_class": tree.group_of_class,
        "held_out_folder": tree.held_out_folder,
        "files": [tree.files[i] for i in keep], "class_of_file": class_of_file.tolist(),
        "split_of_file": (None if tree.split_of_file is None
                          else [tree.split_of_file[i] for i in keep]),
        "fingerprint": fingerprint, "skipped": skipped,
    }
    return PreparedFolder(directory, index, np.ascontiguousarray(pixels[..., :1] if gray else pixels))


def _decode_all(tree, size, log):
    """(uint8 [N, size, size, 3], per file None or why it could not be decoded)."""
    pixels = np.zeros((len(tree.files), size, size, 3), np.uint8)
    errors = [None] * len(tree.files)
    start = last = time.monotonic()
    paths = [os.path.join(tree.root, relative) for relative in tree.files]
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        for i, (image, error) in enumerate(pool.map(lambda p: decode_image(p, size), paths)):
            if error is None:
                pixels[i] = image
            errors[i] = error
            if time.monotonic() - last > PROGRESS_SECONDS:
                last = time.monotonic()
                log(f"  {i + 1:,} of {len(paths):,} images decoded "
                    f"({(i + 1) / (last - start):.0f} per second)")
    return pixels, errors


def decode_image(path, size):
    """(uint8 [size, size, 3] RGB, None), or (None, why not): the runtime's own decode.

    `dvn_runtime.preprocess.decode`: upright, 16-bit scaled to 8 bits,
    bilinear; a JPEG decoded at the smallest DCT scale that keeps twice the
    target side (a camera photo decodes several times faster).
    """
    try:
        with warnings.catch_warnings():  # palette transparency, EXIF oddities: not the user's doing
            warnings.simplefilter("ignore")
            return decode(path, "RGB", (size, size)), None
    except ImageError as error:
        return None, error.reason


def _report(tree, skipped, counts, directory, log):
    """Print the skipped files (the first few) and the warnings about class sizes."""
    if skipped:
        shown = "; ".join(f"{path} ({reason})" for path, reason in skipped[:SHOWN])
        more = f"; and {len(skipped) - SHOWN} more" if len(skipped) > SHOWN else ""
        log(f"Skipped {len(skipped)} files of {tree.root}: {shown}{more}. The list: "
            f"{os.path.join(directory, SKIPPED_FILE)}")
    few = [f"{name} ({count})" for name, count in zip(tree.classes, counts) if count < FEW_IMAGES]
    if few:
        log(f"warning: classes of {tree.root} with fewer than {FEW_IMAGES} training images: "
            f"{', '.join(few)}; such a class is rarely learned")
    if counts.max() > IMBALANCE * counts.min():
        largest, smallest = int(np.argmax(counts)), int(np.argmin(counts))
        log(f"warning: class sizes of {tree.root} differ by {counts.max() / counts.min():.0f}x "
            f"({tree.classes[largest]}: {counts[largest]}, {tree.classes[smallest]}: "
            f"{counts[smallest]}); the small classes may be learned poorly")
