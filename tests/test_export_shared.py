"""The shared layout: one .tflite for every (task, level), each weight stored once, cut out per level."""

import collections
import functools
import hashlib
import json
import os

import numpy as np
import pytest
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.interpreter import Interpreter

from dvn_runtime.cutout import SharedFile, read_index
from dvn_runtime.manifest import load_manifest
from dvn_runtime.model import read_model
from test_export_helpers import random_images

Task = collections.namedtuple("Task", "name input_shape")


def stored_bytes(content):
    """Bytes of a .tflite (bytes) that the tensors' buffers take, each byte counted once.

    Buffers may be windows of one another (Buffer.offset / size): their union counts.
    """
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    used = {tensor.buffer for graph in model.subgraphs for tensor in graph.tensors}
    extents = sorted((model.buffers[b].offset, model.buffers[b].offset + model.buffers[b].size)
                     for b in used if model.buffers[b].size)
    assert all(model.buffers[b].data is None for b in used)  # all in the data section
    total, reached = 0, 0
    for start, end in extents:
        total += max(0, end - max(start, reached))
        reached = max(reached, end)
    return total


def run(content, images, key=None):
    """Float logits of a model (its only signature, or `key` of several) on images, batch 1."""
    from export.verify import dequantize_output, quantize_input

    interpreter = Interpreter(model_content=content, num_threads=1)
    runner = interpreter.get_signature_runner(key)
    details = runner.get_input_details()["image"]
    output = next(iter(runner.get_output_details().values()))
    return np.concatenate([
        dequantize_output(next(iter(runner(image=quantize_input(x[None], details)).values())),
                          output) for x in images])


def operators(content):
    """The builtin operator names of a .tflite's first subgraph, in order."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    names = {code: name for name, code in vars(schema.BuiltinOperator).items()
             if not name.startswith("_")}
    codes = [model.operatorCodes[op.opcodeIndex] for op in model.subgraphs[0].operators]
    return [names[max(code.builtinCode, code.deprecatedBuiltinCode)] for code in codes]


def shared_file(dvn, mode="none", calibration=None):
    from export import shared

    tasks = [Task(name, shape) for name, shape in zip(dvn.task_names, dvn.input_shapes)]
    images = random_images(dvn.input_shapes[0], count=8)
    models = shared.level_models(dvn, tasks, [images] * len(tasks))
    calibrations = None if calibration is None else [calibration] * len(tasks)
    return models, shared.to_shared_tflite(models, tasks, mode, calibrations)


def cutouts(models, content, directory):
    """(key, task, level, cut-out bytes) of every signature of a shared file, cut out by the runtime."""
    path = directory / "shared.tflite"
    path.write_bytes(content)
    with SharedFile(str(path)) as shared:
        for key, (task, level, _) in models.items():
            yield key, task, level, shared.cutout(key)


def dvn_with_orders(backbone, orders, classes=(3, 4)):
    """A built DVN of k = len(orders[0]) units with random weights and batch-norm statistics."""
    import keras

    from dvn_tf.model import DVNModel
    from dvn_tf.units import UnitPlan

    keras.utils.set_random_seed(2)
    model = DVNModel([f"t{i}" for i in range(len(orders))], list(classes[:len(orders)]),
                     UnitPlan(len(orders[0]), orders), (8, 8, 3), backbone=backbone,
                     base_width=6, name="dvn")
    model.build()
    rng = np.random.default_rng(2)
    for variable in model.weights:
        if variable.path.split("/")[-1] in ("moving_variance", "gamma"):
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
        elif variable.path.split("/")[-1] in ("moving_mean", "beta") or "bias" in variable.path:
            variable.assign(rng.normal(0, 0.2, variable.shape).astype("float32"))
    return model


@pytest.mark.slow  # 24 s at load average 3
def test_unit_block_models_compute_every_plain_level_and_hold_each_weight_once():
    """Pre-activation WRN (batch norm before and after convs); task t0 runs units (1, 3, 2),
    so its level 2 holds channels that are not contiguous. (The post-activation ResNet is
    converted in the tests below and in the digits export.)"""
    import keras

    from export.unit_graph import UnitGraph

    dvn = dvn_with_orders("wrn-10-2", [[1, 3, 2], [3, 2, 1]])
    graph = UnitGraph(dvn)
    images = random_images((8, 8, 3), count=6, seed=3)
    for task in range(2):
        for level in dvn.levels:
            plain = dvn.to_plain(task, level)
            expected = np.asarray(plain(images))
            got = np.asarray(graph.level_model(plain, task, level)(images))
            assert np.max(np.abs(got - expected)) <= 1e-5 * np.max(np.abs(expected)), (task, level)
    everything = (1, 2, 3)
    hosts, windows = {}, {}
    for (name, unit, run), (layer, _) in graph.store.layers.items():
        host = run == everything or isinstance(layer, keras.layers.Dense)  # heads: row blocks
        (hosts if host else windows)[(name, unit, run)] = layer.get_weights()
    stored = sum(w.size for weights in hosts.values() for w in weights)
    assert stored == sum(int(np.prod(v.shape)) for v in dvn.weights
                         if v.path.endswith("kernel") or "head" in v.path)
    for (name, unit, run), (kernel,) in windows.items():  # a run's kernel: a column window
        host, = hosts[(name, unit, everything)]
        width = host.shape[-1] // 3
        np.testing.assert_array_equal(kernel, host[..., (run[0] - 1) * width:run[-1] * width])


@pytest.fixture(scope="module")
def noncontiguous_dvn():
    """One task of order (1, 3, 2): level 2 is not contiguous; the levels share unit 1's blocks."""
    return dvn_with_orders("resnet-8", [[1, 3, 2]])


@pytest.fixture(scope="module")
def quantized_file(noncontiguous_dvn):
    """mode -> (models, shared file) of the noncontiguous DVN, each mode converted once."""
    calibration = random_images(noncontiguous_dvn.input_shapes[0], count=16, seed=5)
    return functools.cache(lambda mode: shared_file(noncontiguous_dvn, mode, calibration))


@pytest.mark.parametrize("mode, bytes_per_weight", [("float16", 2), ("int8", 1)])
def test_quantized_shared_files_store_each_block_once_and_cut_out_every_level(
        noncontiguous_dvn, quantized_file, mode, bytes_per_weight, tmp_path):
    """float32: the test below and the digits export."""
    dvn = noncontiguous_dvn
    models, content = quantized_file(mode)
    # Batch norm is stored as 2 numbers a channel (the DVN counts 4), so a bit less is fine.
    assert 0.8 <= stored_bytes(content) / (bytes_per_weight * dvn.count_params()) <= 1.05
    images = random_images(dvn.input_shapes[0], count=4, seed=6)
    for key, task, level, standalone in cutouts(models, content, tmp_path):
        expected = np.asarray(dvn.to_plain(task, level)(images))
        assert ("DEPTHWISE_CONV_2D" in operators(standalone)) == (mode == "int8"), key
        cutout = run(standalone, images)
        whole = run(content, images, key)  # batch norm not folded in
        if mode == "int8":  # not folded: the same graph
            np.testing.assert_array_equal(whole, cutout)
        else:
            assert np.max(np.abs(cutout - whole)) <= 1e-3 * np.max(np.abs(whole)), key
        if mode == "float16":  # float16 weights, float32 arithmetic
            assert np.max(np.abs(cutout - expected)) <= 1e-2 * np.max(np.abs(expected))
        assert np.corrcoef(cutout.ravel(), expected.ravel())[0, 1] > 0.95, key


def quantization_objects(content, subgraph):
    """({table position: its fields}, {vector position: its bytes}, tensors with quantization)
    of the QuantizationParameters that a subgraph's tensors point at (non-object API)."""
    graph = schema.SubGraph()
    graph.Init(content, subgraph)
    tables, vectors, quantized = {}, {}, 0
    for t in range(graph.TensorsLength()):
        quantization = graph.Tensors(t).Quantization()
        if quantization is None:
            continue
        quantized += 1
        table = quantization._tab
        fields = []
        for field, item in ((4, 4), (6, 4), (8, 4), (10, 8)):  # min, max, scale, zero_point
            offset = table.Offset(field)
            if offset:
                start = table.Vector(offset)
                vectors[start] = content[start:start + item * table.VectorLen(offset)]
                fields.append((field, vectors[start]))
        tables[table.Pos] = (*fields, quantization.QuantizedDimension())
    return tables, vectors, quantized


def test_an_int8_file_stores_each_distinct_quantization_once(quantized_file):
    """Within a signature's subgraph region, tensors with equal parameters point at one
    QuantizationParameters table; a vector (scales, zero points) that several signatures hold
    is stored once in the file, in its pool (cut-outs relocate the fields that point at it).
    The converter wrote a table and its vectors per tensor, 12 bytes a channel."""
    _, content = quantized_file("int8")
    stored, quantized, vectors = 0, 0, {}
    for signature in read_index(content)["signatures"]:
        tables, own, tensors = quantization_objects(content, signature["subgraph"])
        assert len(set(tables.values())) == len(tables), signature["key"]
        stored, quantized = stored + len(tables), quantized + tensors
        vectors.update(own)
    assert len(set(vectors.values())) == len(vectors)
    assert stored < quantized  # tensors with equal parameters share a table


def test_a_levels_per_unit_convs_of_a_layer_share_one_quantization(quantized_file):
    """int8: every unit block of a conv layer is quantized with the layer's per-channel scales
    (export/layer_scales.py), so a level's per-unit convs of a layer (convs of one kernel size
    on slices of one tensor) point at one filter table; the converter gave each block its own."""
    _, content = quantized_file("int8")
    model = schema.Model.GetRootAs(content, 0)
    codes = [max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) for code in (
        model.OperatorCodes(i) for i in range(model.OperatorCodesLength()))]
    op = schema.BuiltinOperator
    summed = 0
    for signature in read_index(content)["signatures"]:
        graph = schema.SubGraph()
        graph.Init(content, signature["subgraph"])
        ops = [graph.Operators(i) for i in range(graph.OperatorsLength())]
        producer = {conv.Outputs(0): conv for conv in ops}
        layers = {}
        for conv in ops:
            source = producer.get(conv.Inputs(0))
            if (codes[conv.OpcodeIndex()] == op.CONV_2D and source is not None
                    and codes[source.OpcodeIndex()] == op.STRIDED_SLICE):
                weight = graph.Tensors(conv.Inputs(1))
                layers.setdefault((source.Inputs(0), weight.ShapeAsNumpy()[1:3].tobytes()),
                                  []).append(weight.Quantization()._tab.Pos)
        assert all(len(set(tables)) == 1 for tables in layers.values()), signature["key"]
        summed += sum(len(tables) > 1 for tables in layers.values())
    assert summed > 0


def test_a_cut_out_runs_one_conv_per_layer_with_batch_norm_folded_in(noncontiguous_dvn, tmp_path):
    """In a ResNet every batch norm follows a conv: a cut-out folds each into its conv and
    merges a layer's per-unit convs, so it computes what the signature does in the whole file
    (l convs a layer, batch norm as a depthwise conv) with the ops of a per-level file."""
    from dvn_tf.layers import SlicedConv2D

    dvn = noncontiguous_dvn
    convs = sum(isinstance(layer, SlicedConv2D) for layer in dvn._flatten_layers())
    models, content = shared_file(dvn)
    images = random_images(dvn.input_shapes[0], count=4, seed=7)
    for key, task, level, cutout in cutouts(models, content, tmp_path):
        names = operators(cutout)
        assert "DEPTHWISE_CONV_2D" not in names, key
        if level != 2:  # order (1, 3, 2): level 2 holds units 1 and 3, in two runs
            assert names.count("CONV_2D") == convs, key
        unfolded = run(content, images, key)
        folded = run(cutout, images)
        assert np.max(np.abs(folded - unfolded)) <= 1e-5 * np.max(np.abs(unfolded)), key


def test_the_shared_export_serves_every_level_like_its_own_file(digits_run, digits_export,
                                                                 digits_shared_export):
    per_level, shared = load_manifest(digits_export.tflite), load_manifest(digits_shared_export.tflite)
    assert shared.layout == "shared" and per_level.layout == "per-level"
    (name, info), = shared.files.items()
    content = open(os.path.join(shared.directory, name), "rb").read()
    assert (len(content), hashlib.sha256(content).hexdigest()) == (info.bytes, info.sha256)
    with open(os.path.join(digits_run, "results.json")) as file:
        weights = json.load(file)["stored_params"]
    assert 0.8 <= stored_bytes(content) / (4 * weights) <= 1.05
    assert len(content) < 0.55 * sum(m.bytes for m in per_level.models)
    images = np.stack([np.asarray(x) for x in _samples(digits_shared_export.tflite)])
    for model in shared.models:
        twin = per_level.models_for(model.task)[model.level]
        cutout = read_model(shared, model)
        assert (len(cutout), hashlib.sha256(cutout).hexdigest()) == (model.bytes, model.sha256)
        # Its l convs a layer and batch norm as a depthwise conv add tables and 2 floats a channel.
        assert model.bytes <= 1.05 * twin.bytes
        assert (model.accuracy_tflite, model.params, model.flops) == (
            twin.accuracy_tflite, twin.params, twin.flops)
        np.testing.assert_allclose(run(cutout, images), run(read_model(per_level, twin), images),
                                   atol=1e-5)


def _samples(export_dir):
    """The export's sample images of task 'low', normalized as the manifest says."""
    from dvn_runtime.preprocess import preprocess

    manifest = load_manifest(export_dir)
    with open(os.path.join(export_dir, "samples", "index.json")) as file:
        names = json.load(file)["low"]
    return [preprocess(os.path.join(export_dir, "samples", "low", n), manifest.task("low").input)[0]
            for n in names]


def test_the_shared_export_log_names_file_and_signature(digits_shared_export):
    lines = digits_shared_export.stdout.splitlines()
    assert any(line.startswith("shared.tflite: ") and "4 signatures" in line for line in lines)
    assert any("low level 1: shared.tflite low_level1 " in line for line in lines)


@pytest.fixture(scope="module")
def mobilenet_dvn():
    """A tiny MobileNetV2 DVN (width 0.25, depth 0.25, 8x8 gray); k = 2, orders (1, 2), (2, 1)."""
    import keras

    from dvn_tf.model import DVNModel
    from dvn_tf.units import UnitPlan

    keras.utils.set_random_seed(4)
    model = DVNModel(["t0", "t1"], [3, 4], UnitPlan(2, [[1, 2], [2, 1]]), (8, 8, 1),
                     backbone="mobilenetv2", width_multiplier=0.25, depth_coefficient=0.25,
                     name="dvn")
    model.build()
    rng = np.random.default_rng(4)
    for variable in model.weights:
        if variable.path.split("/")[-1] in ("moving_variance", "gamma"):
            variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
        elif variable.path.split("/")[-1] in ("moving_mean", "beta"):
            variable.assign(rng.normal(0, 0.2, variable.shape).astype("float32"))
    return model


def depthwise_kernels(content):
    """{(buffer offset, size): float32 values} of every 3x3 depthwise kernel a .tflite stores."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    code = schema.BuiltinOperator.DEPTHWISE_CONV_2D
    kernels = {}
    for graph in model.subgraphs:
        for op in graph.operators:
            opcode = model.operatorCodes[op.opcodeIndex]
            weight = graph.tensors[op.inputs[1]]
            if max(opcode.builtinCode, opcode.deprecatedBuiltinCode) == code and list(
                    weight.shape[1:3]) == [3, 3]:
                buffer = model.buffers[weight.buffer]
                kernels[(buffer.offset, buffer.size)] = np.frombuffer(
                    content, "<f4", buffer.size // 4, buffer.offset).reshape(weight.shape)
    return kernels


@pytest.mark.slow  # 4 signatures converted: 23 s alone on one core, 77 s at load 3
def test_a_mobilenetv2_shared_file_stores_each_depthwise_channel_once(mobilenet_dvn, tmp_path):
    """A depthwise kernel has no cross-unit blocks: the file holds one kernel per (layer, unit),
    each unit's channels of the DVN's kernel, and nothing else of it; every cut-out runs one
    depthwise conv a layer (its units merged, batch norm folded in) and classifies like its
    plain model."""
    from dvn_tf.layers import SlicedDepthwiseConv2D
    from export.shared import SIGNATURE_TOLERANCE

    dvn = mobilenet_dvn
    models, content = shared_file(dvn)
    layers = [layer for layer in dvn._flatten_layers() if isinstance(layer, SlicedDepthwiseConv2D)]
    expected = sorted(
        (np.asarray(layer.kernel)[:, :, list(channels)].tobytes())
        for layer in layers for channels in layer.plan.unit_channels(layer.width).values())
    stored = depthwise_kernels(content)
    assert sorted(np.transpose(kernel, (1, 2, 3, 0)).tobytes() for kernel in stored.values()) == (
        expected)  # [1, H, W, C] in the file, [H, W, C, 1] in Keras
    images = random_images(dvn.input_shapes[0], count=4, seed=8)
    for key, task, level, cutout in cutouts(models, content, tmp_path):
        names = operators(cutout)
        assert "CONCATENATION" not in names, key  # one depthwise conv a layer, as a
        assert names.count("DEPTHWISE_CONV_2D") == len(layers), key  # per-level file has
        reference = np.asarray(dvn.to_plain(task, level)(images))
        got = run(cutout, images)
        assert np.max(np.abs(got - reference)) <= SIGNATURE_TOLERANCE["none"] * np.max(
            np.abs(reference)), key
        np.testing.assert_array_equal(np.argmax(got, 1), np.argmax(reference, 1))


def test_a_layer_without_a_unit_form_raises_a_layout_error(noncontiguous_dvn):
    """The export CLI ends with its one line (export/__main__.py), not a traceback."""
    import keras

    from export.unit_graph import LayoutError, UnitGraph

    inputs = keras.Input((8, 8, 3))
    plain = keras.Model(inputs, keras.layers.MaxPooling2D()(inputs))
    with pytest.raises(LayoutError, match=r"cannot split a MaxPooling2D .*--layout=per-level"):
        UnitGraph(noncontiguous_dvn).level_model(plain, 0, 1)
