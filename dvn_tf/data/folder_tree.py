"""The layout of a folder of images, read without opening an image (no TensorFlow).

`scan(path)` reads one of these layouts, every name sorted:
- PATH/CLASS/*.jpg: one task over the classes;
- PATH/GROUP/CLASS/*.jpg: two tasks over the same images, the groups
  (coarse) and the classes (fine);
- either of them under PATH/train/ and PATH/test/ (or val/): that split is
  the held-out split, else training draws a seeded, stratified one.
Files are images by their name (IMAGE_EXTENSIONS); anything else, hidden
files and `__MACOSX/` are skipped and listed. A layout it cannot read raises
`FolderError`, one line that says what to do.
"""

import dataclasses
import hashlib
import os
import re

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TRAIN = "train"
HELD_OUT_FOLDERS = ("test", "val", "validation")  # the first one present is held out
SKIPPED_FOLDERS = ("__MACOSX",)  # macOS metadata in zip files
MAX_DEPTH = 2  # GROUP/CLASS/image


class FolderError(ValueError):
    """A folder of images cannot be used as it is; the message says what to do."""


@dataclasses.dataclass
class FolderTree:
    """What `scan` found: the classes, their groups, and every image file.

    `files` are paths relative to `root`; `class_of_file` indexes `classes`;
    `split_of_file` is "train" or "test" per file when the folder is split,
    else None. `group_of_class` indexes `groups` (None: no groups).
    `skipped` lists `(relative path, reason)` of what is not an image by name.
    """

    root: str
    classes: list
    groups: list
    group_of_class: list
    files: list
    class_of_file: list
    split_of_file: list
    held_out_folder: str
    skipped: list

    def fingerprint(self):
        """A hash of every image file's path, size and modification time: changes when they do."""
        digest = hashlib.sha256()
        for relative in self.files:
            status = os.stat(os.path.join(self.root, relative))
            digest.update(f"{relative}\0{status.st_size}\0{status.st_mtime_ns}\n".encode())
        return digest.hexdigest()


def task_name_of(path):
    """A task name from a folder's name: letters, digits, '_' and '-' ("my weeds" -> "my_weeds")."""
    name = os.path.basename(os.path.normpath(os.path.abspath(os.path.expanduser(path))))
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "images"


def scan(path):
    """The `FolderTree` of the folder at `path`; raises FolderError for a layout it cannot use."""
    root = os.path.abspath(os.path.expanduser(path))
    if not os.path.exists(root):
        raise FolderError(f"images folder {path!r} does not exist; pass the folder that holds "
                          "one sub-folder per class")
    if not os.path.isdir(root):
        raise FolderError(f"{path!r} is a file, not a folder; pass the folder that holds one "
                          "sub-folder per class")
    top = _listing(root, "")
    splits = _split_folders(top)
    if splits:
        if top.images:
            raise FolderError(f"images at two depths in {root}: {top.images[0]} beside the "
                              f"{'/'.join(splits)} folders; move it into one of them")
        return _split_tree(root, splits, top.skipped)
    found = _read_tree(root, "")
    classes, groups, group_of_class = _class_names(root, [found])
    index = {key: i for i, (key, _) in enumerate(classes)}
    return FolderTree(root=root, classes=[label for _, label in classes], groups=groups,
                      group_of_class=group_of_class, files=[f for f, _ in found.files],
                      class_of_file=[index[key] for _, key in found.files], split_of_file=None,
                      held_out_folder=None, skipped=found.skipped)


@dataclasses.dataclass
class _Listing:
    """One folder's entries: sub-folders, image files and skipped entries (relative paths)."""

    folders: list
    images: list
    skipped: list


def _listing(root, relative):
    """The `_Listing` of root/relative, sorted, hidden entries and __MACOSX skipped."""
    folders, images, skipped = [], [], []
    try:
        entries = sorted(os.scandir(os.path.join(root, relative)), key=lambda e: e.name)
    except OSError as error:
        raise FolderError(f"cannot read {os.path.join(root, relative)} ({error.strerror})") \
            from None
    for entry in entries:
        path = os.path.join(relative, entry.name)
        is_folder = entry.is_dir()
        if entry.name.startswith(".") or (is_folder and entry.name in SKIPPED_FOLDERS):
            skipped.append((path + ("/" if is_folder else ""),
                            "hidden" if entry.name.startswith(".") else "macOS metadata"))
        elif is_folder:
            folders.append(entry.name)
        elif entry.name.lower().endswith(IMAGE_EXTENSIONS):
            images.append(path)
        else:
            skipped.append((path, "not an image file"))
    return _Listing(folders, images, skipped)


def _split_folders(top):
    """{"train": folder, "test": folder} when the top folders are a train/test split, else None."""
    names = set(top.folders)
    if TRAIN not in names or not names <= {TRAIN, *HELD_OUT_FOLDERS}:
        return None
    held_out = [name for name in HELD_OUT_FOLDERS if name in names]
    return {TRAIN: TRAIN, "test": held_out[0]} if held_out else {TRAIN: TRAIN}


def _split_tree(root, splits, skipped):
    """The FolderTree of a folder split into train/ and test/ (or val/) sub-trees."""
    found = {split: _read_tree(root, folder) for split, folder in splits.items()}
    if len({tree.grouped for tree in found.values()}) > 1:
        raise FolderError(f"{root}: {TRAIN}/ and {splits.get('test')}/ have different depths "
                          "(one has GROUP/CLASS folders, the other CLASS folders); give both "
                          "the same layout")
    classes, groups, group_of_class = _class_names(root, [found[TRAIN]])
    index = {key: i for i, (key, _) in enumerate(classes)}
    files, class_of_file, split_of_file = [], [], []
    for split, tree in found.items():
        for relative, key in tree.files:
            if key not in index:
                raise FolderError(
                    f"{os.path.join(root, splits[split], *filter(None, key))} is a class that "
                    f"{os.path.join(root, TRAIN)} does not have; add its training images "
                    "there or remove it")
            files.append(relative)
            class_of_file.append(index[key])
            split_of_file.append(split)
    if "test" not in splits:
        split_of_file = None  # train/ alone: a seeded split of it, as for an unsplit folder
    return FolderTree(root=root, classes=[label for _, label in classes], groups=groups,
                      group_of_class=group_of_class, files=files, class_of_file=class_of_file,
                      split_of_file=split_of_file, held_out_folder=splits.get("test"),
                      skipped=skipped + [item for tree in found.values() for item in tree.skipped])


@dataclasses.dataclass
class _Found:
    """Image files of one tree as `(relative path, (group or None, class))`, and what was skipped."""

    files: list
    skipped: list
    grouped: bool


def _read_tree(root, base):
    """The images under root/base, at one depth: base/CLASS/image or base/GROUP/CLASS/image."""
    where = os.path.join(root, base) if base else root
    top = _listing(root, base)
    if not top.folders:
        if top.images:
            raise FolderError(f"{where} holds images but no class sub-folders; move each "
                              f"class's images into {os.path.join(where, 'CLASS')}/")
        raise FolderError(f"{where} has no class sub-folders; put each class's images into "
                          f"{os.path.join(where, 'CLASS')}/")
    if top.images:
        raise FolderError(f"images at two depths in {where}: {top.images[0]} beside the "
                          f"folder {top.folders[0]}/; keep every image at one depth "
                          "(CLASS/image or GROUP/CLASS/image)")
    files, skipped = [], list(top.skipped)
    depths = {}
    for folder in top.folders:
        inside = _listing(root, os.path.join(base, folder))
        skipped += inside.skipped
        if inside.images and inside.folders:
            raise FolderError(f"images at two depths in {os.path.join(where, folder)}: "
                              f"{inside.images[0]} beside the folder {inside.folders[0]}/; keep "
                              "every image at one depth (CLASS/image or GROUP/CLASS/image)")
        if inside.images:
            depths[folder] = 1
            files += [(path, (None, folder)) for path in inside.images]
            continue
        if not inside.folders:
            raise FolderError(f"class folder {os.path.join(where, folder)} holds no image "
                              f"(files ending in {', '.join(IMAGE_EXTENSIONS)}); add images or "
                              "remove the folder")
        depths[folder] = MAX_DEPTH
        files += _group_files(root, os.path.join(base, folder), folder, skipped)
    if len(set(depths.values())) > 1:
        shallow = next(f for f, d in depths.items() if d == 1)
        deep = next(f for f, d in depths.items() if d == MAX_DEPTH)
        raise FolderError(f"images at two depths in {where}: {shallow}/ holds images, {deep}/ "
                          "holds class folders; use CLASS/image everywhere, or "
                          "GROUP/CLASS/image everywhere")
    return _Found(files, skipped, grouped=MAX_DEPTH in depths.values())


def _group_files(root, base, group, skipped):
    """`(relative path, (group, class))` of every image in a group folder's class folders."""
    where = os.path.join(root, base) if base else root
    files = []
    for folder in _listing(root, base).folders:
        inside = _listing(root, os.path.join(base, folder))
        skipped += inside.skipped
        if inside.folders:
            raise FolderError(f"{os.path.join(where, folder, inside.folders[0])} is a third level "
                              "of folders; a tree is CLASS/image or GROUP/CLASS/image")
        if not inside.images:
            raise FolderError(f"class folder {os.path.join(where, folder)} holds no image "
                              f"(files ending in {', '.join(IMAGE_EXTENSIONS)}); add images or "
                              "remove the folder")
        files += [(path, (group, folder)) for path in inside.images]
    return files


def _class_names(root, trees):
    """([((group, class), label)], groups or None, group index per class) over the trees.

    A grouped tree labels its classes CLASS, or GROUP/CLASS when a class name
    repeats across groups.
    """
    keys = sorted({key for tree in trees for _, key in tree.files},
                  key=lambda key: (key[0] or "", key[1]))
    if keys[0][0] is None:
        if len(keys) < 2:
            raise FolderError(f"{root} has one class ({keys[0][1]}); a task needs at least two "
                              "class sub-folders")
        return [(key, key[1]) for key in keys], None, None
    groups = sorted({group for group, _ in keys})
    if len(groups) < 2:
        raise FolderError(f"{root} has one group ({groups[0]}); a grouped tree needs at least "
                          "two GROUP folders (or drop the group level: PATH/CLASS/image)")
    names = [name for _, name in keys]
    repeated = len(set(names)) < len(names)
    labels = [f"{group}/{name}" if repeated else name for group, name in keys]
    return (list(zip(keys, labels)), groups, [groups.index(group) for group, _ in keys])
