"""The board runtime as a wheel: built from pyproject.toml, installed where TensorFlow is not.

The slow test builds the wheel as `make runtime-wheel` does, installs it into
a fresh venv (its dependencies come from the package index or pip's cache),
and classifies the digits export's samples with the `dvn-runtime` command.
"""

import os
import re
import subprocess
import sys
import tomllib
import zipfile

import pytest
from packaging.requirements import Requirement

from runtime_helpers import REPO, run_cli


def wheel_dependencies():
    """{name: Requirement} of pyproject.toml's dependencies."""
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as file:
        project = tomllib.load(file)["project"]
    return {Requirement(line).name: Requirement(line) for line in project["dependencies"]}


def runtime_pins():
    """{name: version} of requirements-runtime.txt's exact pins."""
    with open(os.path.join(REPO, "requirements-runtime.txt")) as file:
        lines = [line.split("#")[0].strip() for line in file]
    return dict(line.split("==") for line in lines if line)


def test_the_wheels_ranges_admit_exactly_the_pinned_runtime_requirements():
    ranges, pins = wheel_dependencies(), runtime_pins()
    assert set(ranges) == set(pins)
    for name, version in pins.items():
        assert ranges[name].specifier.contains(version), (name, version, ranges[name])
        assert str(ranges[name].specifier) != f"=={version}", f"{name}: a range, not a pin"


def run(command, **kwargs):
    """Runs a command; returns the CompletedProcess; fails the test with its stderr if it fails."""
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            timeout=600, **kwargs)
    assert result.returncode == 0, (command, result.stderr[-3000:])
    return result


def classification_lines(stdout):
    """The CLI's output without its first line, which reports the memory available now."""
    return stdout.splitlines()[1:]


@pytest.mark.slow  # a wheel build, a fresh venv and its dependencies: about 35 s
def test_the_wheel_installs_without_tensorflow_and_its_command_classifies(tmp_path, digits_export):
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
         str(tmp_path / "dist"), REPO])
    [wheel] = (tmp_path / "dist").iterdir()
    assert re.fullmatch(r"dvn_runtime-[\d.]+-py3-none-any\.whl", wheel.name)
    with zipfile.ZipFile(wheel) as archive:
        packages = {name.split("/")[0] for name in archive.namelist()}
    assert packages == {"dvn_runtime", "-".join(wheel.name.split("-")[:2]) + ".dist-info"}

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    python, command = str(venv / "bin" / "python"), str(venv / "bin" / "dvn-runtime")
    run([python, "-m", "pip", "install", "--quiet", str(wheel)], cwd=tmp_path)
    no_tensorflow = subprocess.run([python, "-c", "import tensorflow"], cwd=tmp_path,
                                   capture_output=True, text=True)
    assert "No module named 'tensorflow'" in no_tensorflow.stderr
    installed = run([python, "-c", "import dvn_runtime; print(dvn_runtime.__file__)"],
                    cwd=tmp_path).stdout
    assert installed.startswith(str(venv))

    images = sorted(str(path) for path in (digits_export.tflite / "samples" / "high").glob("*.png"))
    args = ["--models", str(digits_export.tflite), "--task", "high", "--image", *images[:3]]
    classified = run([command, *args], cwd=tmp_path).stdout
    assert classification_lines(classified) == classification_lines(run_cli(*args).stdout)
    assert len(classification_lines(classified)) == 3 * 6  # each image's path and its top 5

    refused = subprocess.run([command, "--models", str(tmp_path / "nowhere"), "--task", "high",
                              "--image", images[0]], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode != 0 and refused.stderr.count("\n") == 1
    assert "Traceback" not in refused.stderr
    usage = run([command, "--help"], cwd=tmp_path).stdout
    assert usage.startswith("usage: dvn-runtime ")
