"""Shared test setup: quiet TensorFlow logs, the repo importable, and runs made once per session.

`digits_run` and `digits_export` train and export the embedded digits scenario
once for the whole session, for every test that needs *some* trained run or
export. They are read-only: copy them (shutil.copytree) before changing them.
"""

import collections
import os
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DIGITS_RUN_EPOCHS = 8
Export = collections.namedtuple("Export", "tflite stdout")


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory):
    """Workdir of the digits scenario (default width, seed 0) trained in-process for 8 epochs."""
    from configs import digits
    from dvn_tf.train import run

    config = digits.get_config()
    config.epochs = DIGITS_RUN_EPOCHS
    workdir = tmp_path_factory.mktemp("digits_run")
    run(config, str(workdir))
    return workdir


@pytest.fixture(scope="session")
def digits_export(digits_run):
    """digits_run exported as float32 by the real export CLI: Export(tflite directory, stdout)."""
    from test_export_helpers import export

    result = export(digits_run)
    assert result.returncode == 0, result.stderr[-2000:]
    return Export(digits_run / "tflite", result.stdout)


@pytest.fixture(scope="session")
def digits_int8_export(digits_run, tmp_path_factory):
    """digits_run exported as full-integer int8 by the real export CLI: Export(tflite, stdout)."""
    from test_export_helpers import export

    out = tmp_path_factory.mktemp("digits_int8") / "tflite"
    result = export(digits_run, "--quantize=int8", f"--out={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    return Export(out, result.stdout)
