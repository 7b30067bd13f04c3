"""Makes a tfds dataset readable: prepared already, prepared from local files, or downloaded.

`prepared_builder(name, data_dir, download)` returns the tfds builder of a
dataset whose data can be read. When the data dir does not hold it yet:
- Fashion-MNIST is prepared from Debian's `dataset-fashion-mnist` files when
  they are installed (no network);
- a dataset that tfds cannot download (Tiny-ImageNet's zip, ImageNet's tars)
  is prepared from tfds's manual dir, DATA_DIR/downloads/manual/, when that
  holds files;
- any other is downloaded and prepared by tfds, with its progress bars, unless
  `download` is False, which forbids any network access. First every host of
  the dataset's registered URLs (or the proxy that would carry them) must
  accept a connection, so a machine that cannot reach them fails at once with
  one line, before tfds prints anything.
A failure raises a one-line `DataNotPreparedError` that names the two ways
out, and whatever the attempt wrote into the data dir is removed.
"""

import contextlib
import os
import shutil
import socket
import urllib.parse
import urllib.request
from unittest import mock

import tensorflow_datasets as tfds
from tensorflow_datasets.core.download import downloader

from dvn_tf.data import debian_fashion_mnist
from dvn_tf.data import tiny_imagenet  # registers the `tiny_imagenet` builder
from dvn_tf.data.base import DataNotPreparedError

# tfds retries a failed request 10 times with a doubling back-off (about 200 s
# in all); 4 retries give up within seconds when there is no network at all.
DOWNLOAD_RETRIES = 4
REACH_TIMEOUT = 5  # seconds to connect to a download host before calling it unreachable
_SNAPSHOT_DEPTH = 3  # data_dir/downloads/extracted/NAME: where tfds writes


def prepared_builder(name, data_dir=None, download=True):
    """The tfds builder of dataset `name` in `data_dir` (None: tfds's default), ready to read.

    Raises `ValueError` for a name tfds does not know, `DataNotPreparedError`
    when the data cannot be had.
    """
    try:
        builder = tfds.builder(name, data_dir=data_dir or None)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise ValueError(f"dataset={name!r} is not a tensorflow-datasets dataset (see "
                         "https://www.tensorflow.org/datasets/catalog)") from error
    if not _readable(builder):
        _prepare(builder, download)
        if not _readable(builder):
            raise _not_prepared(builder, download)
    return builder


def _readable(builder):
    """Whether tfds reads the builder's train split: its data is there (or tfds's mock data)."""
    try:
        builder.as_dataset(split="train")
    except AssertionError:  # "could not find data in ..."
        return False
    return True


def _prepare(builder, download):
    """Prepares the builder's data by the first way that applies, if one does."""
    if builder.name == "fashion_mnist" and debian_fashion_mnist.files_present():
        doing = f"preparing fashion_mnist from {debian_fashion_mnist.DEBIAN_DIR}"
        prepare = lambda: debian_fashion_mnist.prepare(builder)
    elif builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
        if not _holds_files(_manual_dir(builder)):
            return
        doing = f"preparing {builder.name} from {_manual_dir(builder)}"
        prepare = lambda: builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    elif download:
        doing = f"downloading {builder.name} into {builder.data_dir_root}"
        print(f"{builder.name} is not in {builder.data_dir_root} yet: downloading and preparing "
              "it there (--config.download=false stops instead of downloading)")

        def prepare():
            check_reachable(download_hosts(builder))
            with mock.patch.object(downloader, "MAX_RETRIES", DOWNLOAD_RETRIES):
                builder.download_and_prepare()
    else:
        return
    with _removed_on_failure(os.fspath(builder.data_dir_root)):
        try:
            prepare()
        except Exception as error:  # network, checksum, disk and format errors alike
            reason = f"{type(error).__name__}: {_first_line(error)}"
            raise DataNotPreparedError(
                f"{doing} failed ({reason}): {_ways_out(builder)}") from error


def download_hosts(builder):
    """The distinct (host, port) that downloading the builder's registered URLs connects to.

    A URL that an environment proxy carries (http_proxy, https_proxy, not in
    no_proxy; what tfds's requests honours) connects to the proxy instead.
    """
    proxies = urllib.request.getproxies()
    hosts = []
    for url in builder.url_infos or ():
        parts = urllib.parse.urlsplit(url)
        proxy = proxies.get(parts.scheme)
        if proxy and not urllib.request.proxy_bypass(parts.hostname):
            parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if parts.scheme in ("http", "https") and parts.hostname:
            hosts.append((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)))
    return list(dict.fromkeys(hosts))


def check_reachable(hosts):
    """Raise ConnectionError naming the first (host, port) that does not accept a connection."""
    for host, port in hosts:
        try:
            socket.create_connection((host, port), timeout=REACH_TIMEOUT).close()
        except OSError as error:
            reason = error.strerror or str(error) or type(error).__name__
            raise ConnectionError(f"cannot reach {host}:{port}: {reason}") from error


def _not_prepared(builder, download):
    """The one-line `DataNotPreparedError` for a builder whose data is not there."""
    root = os.fspath(builder.data_dir_root)
    if builder.name == "tiny_imagenet":
        how = (f"put the official {tiny_imagenet.ZIP_NAME} "
               "(http://cs231n.stanford.edu/tiny-imagenet-200.zip) into "
               f"{root}/downloads/manual/ and it is prepared locally on the next run, or pass "
               "--config.data_dir=DIR of a data dir that holds it")
    elif builder.MANUAL_DOWNLOAD_INSTRUCTIONS:
        instructions = " ".join(builder.MANUAL_DOWNLOAD_INSTRUCTIONS.split())
        how = (f"tfds cannot download it; put its files into {root}/downloads/manual/ "
               f"({instructions}) and it is prepared on the next run, or pass "
               "--config.data_dir=DIR of a data dir that holds it")
    else:
        how = _ways_out(builder)
        if not download:
            how = f"--config.download=false forbids downloading it; {how}"
    return DataNotPreparedError(f"{builder.name} is not prepared in {root}: {how}")


def _ways_out(builder):
    """The two ways out when a dataset cannot be had here."""
    root = os.fspath(builder.data_dir_root)
    return ("prepare it on a machine with internet (python -c \"import tensorflow_datasets as "
            f"tfds; tfds.builder('{builder.name}', data_dir='DIR').download_and_prepare()\") "
            f"and copy DIR/{builder.name} into {root}, or pass --config.data_dir=DIR of a data "
            "dir that holds it")


def _manual_dir(builder):
    """tfds's default manual dir of the builder's data dir."""
    return os.path.join(os.fspath(builder.data_dir_root), "downloads", "manual")


def _holds_files(directory):
    """Whether the directory exists and is not empty."""
    return os.path.isdir(directory) and bool(os.listdir(directory))


def _first_line(error):
    """The first non-empty line of an exception's message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


@contextlib.contextmanager
def _removed_on_failure(root):
    """Removes what the block added under `root` (down to 3 levels) if the block fails."""
    existed = os.path.isdir(root)
    before = _entries(root)
    try:
        yield
    except BaseException:
        if not existed:
            shutil.rmtree(root, ignore_errors=True)
        else:
            for path in sorted(_entries(root) - before):  # a parent sorts before its children
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                elif os.path.lexists(path):
                    os.remove(path)
        raise


def _entries(root, depth=_SNAPSHOT_DEPTH):
    """Paths under `root`, at most `depth` levels down."""
    found = set()
    if depth == 0 or not os.path.isdir(root):
        return found
    for entry in os.scandir(root):
        found.add(entry.path)
        if entry.is_dir(follow_symlinks=False):
            found |= _entries(entry.path, depth - 1)
    return found
