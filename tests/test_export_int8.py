"""Full-integer exports of a short digits run: int8 post-training and int8-qat, against float32."""

import json
import os

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

from export.manifest import read_manifest
from export.qat import QATError, read_graph
from test_export_helpers import export
from test_mobilenetv2 import mobilenet_dvn

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


def thresholded_relu_model():
    inputs = keras.Input((8, 8, 2))
    return keras.Model(inputs, keras.layers.ReLU(threshold=0.5, name="thresholded")(inputs))


def test_qat_refuses_a_graph_it_cannot_rebuild_in_one_line():
    """A ReLU with a threshold is not rebuilt as a plain one; MobileNetV2 is pointed to int8."""
    hint = r" in int8-qat; export with --quantize=int8 \(post-training\) instead$"
    with pytest.raises(QATError, match=r"^layer thresholded: only plain ReLU is rebuilt" + hint):
        read_graph(thresholded_relu_model())
    level = mobilenet_dvn(alpha=0.25, side=8, channels=1, depth=0.25).to_plain(0, 1)
    with pytest.raises(QATError, match=r"^layer \S+: only plain ReLU is rebuilt" + hint):
        read_graph(level)  # its first ReLU6
