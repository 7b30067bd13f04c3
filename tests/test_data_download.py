"""Preparing a tfds dataset on first use: download, local files, and failure with no network.

`Patterns` is a real tfds builder registered here: its "download" generates
a few 6x6 grayscale images, so tfds prepares it for real with no network.
`BrokenDownload` asks tfds's download manager for a URL, as every download
does; with sockets blocked that fails as on a machine with no network.
`LoopbackDownload` registers its URL (as tfds's catalog datasets do in their
checksums.tsv) and downloads it: the tests point it at a loopback port that
refuses, or at a loopback HTTP server that serves the file.
"""

import collections
import contextlib
import hashlib
import http.server
import json
import socket
import threading
import time

import numpy as np
import pytest
import tensorflow_datasets as tfds

from dvn_tf.data import preparation
from dvn_tf.data.base import DataNotPreparedError
from dvn_tf.data.normalization import CACHE_NAME
from dvn_tf.data.tfds_tasks import load_tfds_task

PATTERN_LEVELS = {"train": [0, 40, 80, 200], "validation": [120, 160]}


class Patterns(tfds.core.GeneratorBasedBuilder):
    """Flat 6x6 grayscale images whose gray level is 40 x their label; train and validation."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(6, 6, 1)),
            "label": tfds.features.ClassLabel(names=["a", "b", "c", "d", "e", "f"])}))

    def _split_generators(self, dl_manager):
        return {split: self._generate_examples(levels)
                for split, levels in PATTERN_LEVELS.items()}

    def _generate_examples(self, levels):
        for level in levels:
            label = min(level // 40, 5)
            yield level, {"image": np.full((6, 6, 1), level, np.uint8), "label": label}


class BrokenDownload(Patterns):
    """Patterns whose generation first downloads a file, as real builders do."""

    def _split_generators(self, dl_manager):
        dl_manager.download("https://example.org/patterns.tar.gz")
        return super()._split_generators(dl_manager)


class LoopbackDownload(Patterns):
    """Patterns that first downloads its registered URL, set per test in `url_infos`."""

    url_infos = {}

    def _split_generators(self, dl_manager):
        dl_manager.download(next(iter(self.url_infos)))
        return super()._split_generators(dl_manager)


def register_url(monkeypatch, url, content):
    """Makes `url`, with content's size and sha256, LoopbackDownload's one registered URL."""
    info = tfds.core.download.checksums.UrlInfo(
        size=len(content), checksum=hashlib.sha256(content).hexdigest(), filename="patterns.bin")
    monkeypatch.setattr(LoopbackDownload, "url_infos", {url: info})
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)  # connect to the loopback address itself


def refusing_port():
    """A loopback port where nothing listens: a connection to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def served(content):
    """A loopback HTTP server that answers every GET with content; yields its base URL."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def network_attempts(monkeypatch):
    """Blocks sockets; the list of connection attempts made since."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network access in a test")

    for owner, name in [(socket, "getaddrinfo"), (socket, "create_connection"),
                        (socket.socket, "connect")]:
        monkeypatch.setattr(owner, name, refuse)
    return attempts


def _spec(dataset, **fields):
    return {"name": "t", "dataset": dataset, "augment": "none", **fields}


def test_an_unprepared_dataset_is_prepared_on_first_use_and_its_statistics_cached(
        tmp_path, capsys, network_attempts):
    task = load_tfds_task(_spec("patterns"), data_dir=str(tmp_path))
    first_output = capsys.readouterr().out
    levels = np.array(PATTERN_LEVELS["train"]) / 255.0
    assert task.input_shape == (6, 6, 1) and task.pixel_scale == 255
    np.testing.assert_allclose(task.mean, [levels.mean()], atol=1e-6)
    np.testing.assert_allclose(task.std, [levels.std()], atol=1e-6)
    assert f"patterns is not in {tmp_path} yet: downloading and preparing it" in first_output
    assert "held out (split 'validation')" in first_output  # the dataset has no test split
    pixels = sorted(round(float(np.mean(image * task.std + task.mean) * 255))
                    for image, _ in task.test)
    assert pixels == PATTERN_LEVELS["validation"]
    cache = tmp_path / "patterns" / "1.0.0" / CACHE_NAME
    assert json.loads(cache.read_text())["mean"] == task.mean
    cache.write_text(json.dumps({"mean": [0.25], "std": [0.5]}))  # read back, not measured again
    again = load_tfds_task(_spec("patterns"), data_dir=str(tmp_path), download=False)
    assert (again.mean, again.std) == ([0.25], [0.5])
    assert "Measuring" not in capsys.readouterr().out
    assert network_attempts == []


def test_download_false_touches_nothing(tmp_path, network_attempts):
    with pytest.raises(DataNotPreparedError) as error:
        load_tfds_task(_spec("patterns"), data_dir=str(tmp_path), download=False)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"patterns is not prepared in {tmp_path}: --config.download=false")
    assert "download_and_prepare()" in message and "--config.data_dir" in message
    assert network_attempts == [] and list(tmp_path.iterdir()) == []


def test_a_failed_download_is_one_line_fast_and_leaves_nothing(tmp_path, network_attempts):
    (tmp_path / "kept.txt").write_text("a file of the user's")
    start = time.monotonic()
    with pytest.raises(DataNotPreparedError) as error:
        load_tfds_task(_spec("broken_download"), data_dir=str(tmp_path))
    assert time.monotonic() - start < 20  # tfds alone retries for about 200 s
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"downloading broken_download into {tmp_path} failed (")
    assert "network access in a test" in message
    assert "download_and_prepare()" in message and "--config.data_dir" in message
    hosts = collections.Counter(host for host, _ in network_attempts)
    assert set(hosts) == {"example.org"}
    assert 1 < hosts["example.org"] <= preparation.DOWNLOAD_RETRIES + 1
    assert [p.name for p in tmp_path.iterdir()] == ["kept.txt"]


def test_an_unreachable_host_fails_in_one_line_before_tfds_prints_anything(
        tmp_path, monkeypatch, capfd):
    port = refusing_port()
    register_url(monkeypatch, f"http://127.0.0.1:{port}/patterns.bin", b"never served")
    start = time.monotonic()
    with pytest.raises(DataNotPreparedError) as error:
        load_tfds_task(_spec("loopback_download"), data_dir=str(tmp_path))
    assert time.monotonic() - start < 5
    message = str(error.value)
    assert message.startswith(
        f"downloading loopback_download into {tmp_path} failed "
        f"(ConnectionError: cannot reach 127.0.0.1:{port}: Connection refused)")
    assert "download_and_prepare()" in message and "--config.data_dir" in message
    out, err = capfd.readouterr()  # file descriptors: tqdm's bars and absl's warnings included
    assert out.splitlines() == [f"loopback_download is not in {tmp_path} yet: downloading and "
                                "preparing it there (--config.download=false stops instead of "
                                "downloading)"]
    assert err == ""
    assert list(tmp_path.iterdir()) == []


def test_a_real_download_keeps_tfds_progress_bars(tmp_path, monkeypatch, capfd):
    content = b"the patterns' archive"
    with served(content) as base:
        register_url(monkeypatch, f"{base}/patterns.bin", content)
        task = load_tfds_task(_spec("loopback_download"), data_dir=str(tmp_path))
    assert task.input_shape == (6, 6, 1)
    err = capfd.readouterr().err
    assert "Dl Completed" in err and "Dl Size" in err
    downloaded = (tmp_path / "downloads" / "loopback_download").glob("127.0.0.1_*_patterns*.bin")
    assert [path.read_bytes() for path in downloaded] == [content]


def test_a_proxy_is_probed_in_place_of_the_hosts_it_carries(monkeypatch):
    register_url(monkeypatch, "https://data.example.org/patterns.bin", b"")
    builder = tfds.builder("loopback_download")
    assert preparation.download_hosts(builder) == [("data.example.org", 443)]
    monkeypatch.setenv("https_proxy", "http://proxy.example.org:3128")
    assert preparation.download_hosts(builder) == [("proxy.example.org", 3128)]
    monkeypatch.setenv("no_proxy", "example.org")
    assert preparation.download_hosts(builder) == [("data.example.org", 443)]


def test_a_dataset_tfds_cannot_download_names_its_manual_dir(tmp_path, network_attempts):
    with pytest.raises(DataNotPreparedError) as error:
        load_tfds_task(_spec("imagenet2012"), data_dir=str(tmp_path))
    message = str(error.value)
    assert "\n" not in message and message.startswith("imagenet2012 is not prepared in")
    assert f"{tmp_path}/downloads/manual/" in message and "ILSVRC2012_img_train.tar" in message
    assert network_attempts == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("dataset, expected", [
    ("not_a_dataset", "is not a tensorflow-datasets dataset"),
    ("imdb_reviews", "needs an 'image' feature and a class label 'label'"),
])
def test_a_dataset_that_cannot_serve_a_task_is_a_value_error(dataset, expected):
    with tfds.testing.mock_data(num_examples=2):
        with pytest.raises(ValueError, match=expected):
            load_tfds_task(_spec(dataset))
