"""A tfds builder for Tiny-ImageNet-200, read from the official zip.

tensorflow-datasets has no Tiny-ImageNet builder, so this one reads
`tiny-imagenet-200.zip` (http://cs231n.stanford.edu/tiny-imagenet-200.zip)
from tfds's manual directory, `DATA_DIR/downloads/manual/`, and prepares it
locally: nothing is downloaded. Importing this module registers the builder
as `tiny_imagenet`.
"""

import posixpath
import zipfile

import tensorflow_datasets as tfds

ZIP_NAME = "tiny-imagenet-200.zip"


class TinyImagenet(tfds.core.GeneratorBasedBuilder):
    """Tiny-ImageNet-200: 64x64 images of 200 ImageNet classes.

    Splits: `train` (500 per class) and `validation` (50 per class, labels
    from `val/val_annotations.txt`); the unlabelled test images are skipped.
    Labels are the wnids in `wnids.txt` order; `info.metadata["words"]` maps
    each wnid to its words from `words.txt`.
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Train and validation splits of the official zip."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Put the official {ZIP_NAME} "
        "(http://cs231n.stanford.edu/tiny-imagenet-200.zip) into the manual "
        "directory, DATA_DIR/downloads/manual/; it is read without extracting.")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(
                    shape=(64, 64, 3), encoding_format="jpeg"),
                "label": tfds.features.ClassLabel(),
            }),
            supervised_keys=("image", "label"),
            homepage="http://cs231n.stanford.edu/",
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager):
        zip_path = dl_manager.manual_dir / ZIP_NAME
        if not zip_path.exists():
            raise FileNotFoundError(
                f"{zip_path} not found. {self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
        with zipfile.ZipFile(zip_path) as archive:
            root = _root_folder(archive)
            wnids = archive.read(root + "wnids.txt").decode().split()
            words = _read_words(archive, root + "words.txt")
        self.info.features["label"].names = wnids
        self.info.metadata["words"] = {w: words[w] for w in wnids if w in words}
        return {
            "train": self._generate_examples(zip_path, "train"),
            "validation": self._generate_examples(zip_path, "validation"),
        }

    def _generate_examples(self, zip_path, split):
        """Yields `(member name, {"image": jpeg bytes, "label": wnid})`."""
        with zipfile.ZipFile(zip_path) as archive:
            root = _root_folder(archive)
            if split == "train":
                labelled = _train_members(archive, root)
            else:
                labelled = _validation_members(archive, root)
            for member, wnid in labelled:
                yield member, {"image": archive.read(member), "label": wnid}


def _root_folder(archive):
    """The folder inside the zip that holds `wnids.txt`, with a trailing '/'."""
    for name in archive.namelist():
        if posixpath.basename(name) == "wnids.txt":
            return name[:-len("wnids.txt")]
    raise ValueError(f"{archive.filename}: no wnids.txt in the zip")


def _read_words(archive, member):
    """wnid -> words from `words.txt` (tab-separated); empty if it is absent."""
    if member not in archive.namelist():
        return {}
    lines = archive.read(member).decode().splitlines()
    return dict(line.split("\t", 1) for line in lines if "\t" in line)


def _train_members(archive, root):
    """`(member, wnid)` for `train/<wnid>/images/*.JPEG`, sorted by member."""
    prefix = root + "train/"
    for name in sorted(archive.namelist()):
        parts = name[len(prefix):].split("/")
        if (name.startswith(prefix) and len(parts) == 3
                and parts[1] == "images" and name.endswith(".JPEG")):
            yield name, parts[0]


def _validation_members(archive, root):
    """`(member, wnid)` for `val/images/*` named in `val/val_annotations.txt`."""
    annotations = archive.read(root + "val/val_annotations.txt").decode()
    for line in annotations.splitlines():
        if line.strip():
            filename, wnid = line.split("\t")[:2]
            yield root + "val/images/" + filename, wnid
