"""Full-integer exports of a short digits run: int8 post-training and int8-qat, against float32."""

import json
import os

import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from export.manifest import read_manifest
from test_export_helpers import export

MAX_DROP = 0.01  # one accuracy point


def check_integer_export(workdir, out, mode):
    """Every level's LiteRT accuracy within a point of the float32 model's; int8 tensors, batch 1."""
    with open(os.path.join(workdir, "results.json")) as file:  # float32 Keras accuracy
        float32 = {(e["task"], e["level"]): e["accuracy"] for e in json.load(file)["entries"]}
    manifest = read_manifest(out)
    integer = {(m["task"], m["level"]): m for m in manifest["models"]}
    assert integer.keys() == float32.keys()
    for key, model in integer.items():
        assert model["quantize"] == mode
        assert float32[key] - model["accuracy_tflite"] <= MAX_DROP, \
            f"{key}: {mode} accuracy {model['accuracy_tflite']:.4f}, float32 {float32[key]:.4f}"
        assert model["bytes"] < 2 * model["params"] + 16 * 1024  # float32 would be >= 4 per param
        interpreter = Interpreter(model_path=os.path.join(out, model["file"]))
        source = interpreter.get_input_details()[0]
        target = interpreter.get_output_details()[0]
        assert source["dtype"] == np.int8 and target["dtype"] == np.int8
        assert source["quantization"][0] > 0 and target["quantization"][0] > 0
        assert list(source["shape_signature"]) == manifest["input"]["shape"] == [1, 8, 8, 1]
    return integer


def test_int8_accuracy_within_one_point_of_float32(digits_run, digits_int8_export):
    check_integer_export(digits_run, str(digits_int8_export.tflite), "int8")


@pytest.mark.slow
def test_int8_qat_accuracy_within_one_point_of_float32(digits_run, tmp_path):
    out = str(tmp_path / "qat")
    result = export(digits_run, "--quantize=int8-qat", "--qat-epochs=1", f"--out={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("  qat ") == 4  # one fine-tuning line per (task, level)
    check_integer_export(digits_run, out, "int8-qat")
