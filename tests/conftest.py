"""Shared test setup: quiet TensorFlow logs, the repo importable, and runs made once per test run.

`digits_run` and `digits_export` train and export the embedded digits scenario
once for the whole test run (once across pytest-xdist workers too), for every
test that needs *some* trained run or export. They are read-only: copy them
(shutil.copytree) before changing them.
"""

import collections
import fcntl
import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DIGITS_RUN_EPOCHS = 8
# For runs that check structure, not learning: one eager step of a batch of 64 per task
# (tracing a DVN's train step costs more than a few eager steps).
ONE_EAGER_STEP = {"epochs": 1, "train_examples": 64, "run_eagerly": True}
Export = collections.namedtuple("Export", "tflite stdout")


def made_once(tmp_path_factory, name, make):
    """The directory `name` filled by make(directory) once per test run, even across xdist workers.

    The first process to ask makes it under a file lock; the others wait for it
    and reuse it.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the base directory that every worker's own one sits in
    directory, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            directory.mkdir(exist_ok=True)
            make(directory)
            done.touch()
    return directory


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """Workdir of the digits scenario (default width, seed 0) trained in-process for 8 epochs."""
    def train(workdir):
        from configs import digits
        from dvn_tf.train import run

        config = digits.get_config()
        config.epochs = DIGITS_RUN_EPOCHS
        run(config, str(workdir))

    return made_once(tmp_path_factory, "digits_run", train)


SEQUENTIAL_RUN = {"base_width": 8, "batch_size": 64, "epochs": 10}


@pytest.fixture(scope="session")
def digits_seq_run(tmp_path_factory):
    """Workdir of the DVN learning digits_seq in two stages (Eq. 4) in-process: width 8, 10 epochs.

    Its config is digits_seq's with SEQUENTIAL_RUN; copy `stage1_low` to start
    another sequential method from the same first stage.
    """
    def train(workdir):
        from configs import digits_seq
        from dvn_tf.train import run

        config = digits_seq.get_config()
        config.update(SEQUENTIAL_RUN)
        run(config, str(workdir))

    return made_once(tmp_path_factory, "digits_seq_run", train)


def exported_once(tmp_path_factory, digits_run, name, *args):
    """digits_run exported once per test run by the real export CLI with args: Export(tflite, stdout).

    Without args the export goes where the CLI puts it by default, digits_run/tflite.
    """
    def export_run(directory):
        from test_export_helpers import export

        out = [f"--out={directory / 'tflite'}"] if args else []
        result = export(digits_run, *args, *out)
        assert result.returncode == 0, result.stderr[-2000:]
        (directory / "stdout.txt").write_text(result.stdout)

    directory = made_once(tmp_path_factory, name, export_run)
    return Export(directory / "tflite" if args else digits_run / "tflite",
                  (directory / "stdout.txt").read_text())


@pytest.fixture(scope="session")
def digits_export(tmp_path_factory, digits_run):
    """digits_run exported as float32 into digits_run/tflite: Export(tflite directory, stdout)."""
    return exported_once(tmp_path_factory, digits_run, "digits_export")


@pytest.fixture(scope="session")
def digits_shared_export(tmp_path_factory, digits_run):
    """digits_run exported as float32 in the shared layout: Export(tflite directory, stdout)."""
    return exported_once(tmp_path_factory, digits_run, "digits_shared_export", "--layout=shared")


@pytest.fixture(scope="session")
def digits_int8_export(tmp_path_factory, digits_run):
    """digits_run exported as full-integer int8: Export(tflite directory, stdout)."""
    return exported_once(tmp_path_factory, digits_run, "digits_int8_export", "--quantize=int8")


SESSION_RUN_FIXTURES = {"digits_run", "digits_seq_run", "digits_export", "digits_shared_export",
                        "digits_int8_export"}


def pytest_collection_modifyitems(items):
    """A test that needs the session's digits run is slow: training and exporting it takes minutes."""
    for item in items:
        if SESSION_RUN_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
