"""Prepares tfds's `fashion_mnist` from Debian's `dataset-fashion-mnist` files, with no network.

Debian's package ships the four original Fashion-MNIST files in
/usr/share/datasets/fashion-mnist/, but its build (strip-nondeterminism)
rewrote each gzip header: the original file name is dropped and the time
stamp reset; the compressed data is untouched. Putting the two header fields
back gives the exact files that tfds's `fashion_mnist` builder downloads. They
go to a temporary manual dir, where tfds finds them instead of downloading,
checks them against its registered sha256 checksums and prepares the dataset
as from a download.
"""

import os
import struct
import tempfile

import tensorflow_datasets as tfds

DEBIAN_DIR = "/usr/share/datasets/fashion-mnist"
DEBIAN_PACKAGE = "dataset-fashion-mnist"
# The original files' gzip time stamps (2017-08-31 10:50 UTC), found by
# matching tfds's registered sha256 of each file.
ORIGINAL_MTIMES = {
    "train-images-idx3-ubyte.gz": 1504176606,
    "train-labels-idx1-ubyte.gz": 1504176606,
    "t10k-images-idx3-ubyte.gz": 1504176627,
    "t10k-labels-idx1-ubyte.gz": 1504176627,
}
_GZIP_DEFLATE = b"\x1f\x8b\x08"
_FNAME = 0x08


def files_present(directory=DEBIAN_DIR):
    """Whether the directory holds all four Fashion-MNIST files."""
    return all(os.path.isfile(os.path.join(directory, name)) for name in ORIGINAL_MTIMES)


def restore_original(source, destination, mtime):
    """Writes `source` with the original gzip header: its file name and `mtime`.

    A file whose header still names the file is copied unchanged.
    """
    with open(source, "rb") as file:
        data = file.read()
    if not data.startswith(_GZIP_DEFLATE):
        raise ValueError(f"{source} is not a gzip file")
    if not data[3] & _FNAME:
        if data[3]:  # other optional fields would sit between the header and the name
            raise ValueError(f"{source}: unexpected gzip header flags {data[3]:#x}")
        name = os.path.basename(source)[:-len(".gz")].encode() + b"\0"
        data = (_GZIP_DEFLATE + bytes([_FNAME]) + struct.pack("<I", mtime) + data[8:10]
                + name + data[10:])
    with open(destination, "wb") as file:
        file.write(data)


def prepare(builder, directory=DEBIAN_DIR):
    """Prepares the `fashion_mnist` builder from the Debian files in `directory`.

    Downloads and extracted files live in a temporary directory, removed after.
    tfds raises `NonMatchingChecksumError` if a file differs from the original.
    """
    print(f"Preparing {builder.name} from {directory} (Debian's {DEBIAN_PACKAGE}) into "
          f"{builder.data_dir_root}")
    with tempfile.TemporaryDirectory(prefix="dvn-fashion-mnist-") as scratch:
        for name, mtime in ORIGINAL_MTIMES.items():
            restore_original(os.path.join(directory, name), os.path.join(scratch, name), mtime)
        builder.download_and_prepare(
            download_dir=os.path.join(scratch, "downloads"),
            download_config=tfds.download.DownloadConfig(
                manual_dir=scratch, try_download_gcs=False))
