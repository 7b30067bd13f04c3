"""int8 shared files: every unit block of a conv layer quantized with the layer's per-channel scales.

The converter quantizes each constant with its own per-output-channel range, so
the l per-unit convs that compute a layer's run of units (export/unit_graph.py)
carry l different scale vectors for the same output channels, and so do their
int32 biases (input scale times weight scale). `share_layer_scales` gives every
block of a layer, for each output channel, the largest scale that channel has
over the layer's blocks (the scale of the full-width kernel's column): its int8
values are rescaled to it (rounded once more) and its biases re-expressed in
input scale times it. A level's l convs of a layer then carry equal parameters,
which export/relayout.py stores once per signature, and a block stays one run of
bytes that every level's window reads.

The layer's blocks are found as the convolutions that one sum of a level adds
(an ADD tree of CONV_2D ops reading slices of one tensor); each block's bytes
are tied to the block that hosts them (relayout.stored_once), so every level,
of every task, uses the same scales. Full-integer graphs only (int8 input).
"""

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from export.served import OP, _Graph

INT8, INT32 = schema.TensorType.INT8, schema.TensorType.INT32


def _per_channel(tensor):
    quantization = tensor.quantization
    return (quantization is not None and quantization.scale is not None
            and len(quantization.scale) > 1 and quantization.quantizedDimension == 0)


def _convs(model, graph):
    """The CONV_2D ops of a full-integer graph with per-channel int8 filters."""
    found = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        if max(code.builtinCode, code.deprecatedBuiltinCode) != OP.CONV_2D:
            continue
        source, weight = graph.tensors[op.inputs[0]], graph.tensors[op.inputs[1]]
        if source.type == INT8 and weight.type == INT8 and _per_channel(weight):
            found.append(op)
    return found


def full_integer(model):
    """Whether a model (object API) takes int8 input in every subgraph: `--quantize=int8`."""
    return all(graph.tensors[t].type == INT8 for graph in model.subgraphs for t in graph.inputs)


def _layers(model):
    """Sets of filter buffers that one level's sum adds up: convs of one geometry reading slices
    of one tensor."""
    layers = []
    for graph in model.subgraphs:
        convs = {id(op) for op in _convs(model, graph)}
        walker = _Graph(model, graph, 0)
        for root in graph.operators:
            if walker.code(root) != OP.ADD or walker.inner(root):
                continue
            by_source = {}
            for leaf in walker.terms(root)[0]:
                if id(leaf) in convs:
                    key = (walker.source(leaf)[0], repr(vars(leaf.builtinOptions)),
                           tuple(graph.tensors[leaf.inputs[1]].shape[1:3]))
                    by_source.setdefault(key, set()).add(
                        graph.tensors[leaf.inputs[1]].buffer)
            layers += [buffers for buffers in by_source.values() if len(buffers) > 1]
    return layers


def _layer_scales(model, placement, layers):
    """{host buffer: the layer's per-channel scales}, each layer's the largest over its blocks."""
    parent = {}

    def find(b):
        while parent.setdefault(b, b) != b:
            b = parent[b]
        return b

    for buffers in layers:
        first, *others = (placement[b][0] for b in buffers)
        for host in others:
            parent[find(host)] = find(first)
    scales = {}
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            if (tensor.buffer in parent and placement[tensor.buffer][0] == tensor.buffer
                    and tensor.type == INT8 and _per_channel(tensor)):
                own = np.asarray(tensor.quantization.scale, np.float32)
                root = find(tensor.buffer)
                if len(scales.get(root, own)) != len(own):
                    raise ValueError(f"blocks of one layer with {len(own)} and "
                                     f"{len(scales[root])} output channels")
                scales[root] = np.maximum(scales.get(root, own), own)
    return {host: scales[find(host)] for host in parent if find(host) in scales}


def share_layer_scales(model, placement):
    """Requantize the per-unit conv blocks of a full-integer model (object API) with layer scales.

    `placement` is relayout.stored_once(model). Changes `model` in place; a
    block of a layer that no level sums is left as it is.
    """
    layer = _layer_scales(model, placement, _layers(model))
    written = {}

    def rewrite(buffer, values, dtype):
        data = values.astype(dtype).view(np.uint8).ravel()
        if buffer in written and not np.array_equal(written[buffer], data):
            raise ValueError(f"buffer {buffer} is read with two different scales")
        written[buffer] = data

    for graph in model.subgraphs:
        for op in _convs(model, graph):
            weight = graph.tensors[op.inputs[1]]
            host, offset = placement[weight.buffer]
            if host not in layer:
                continue
            rows = len(model.buffers[weight.buffer].data) // weight.shape[0]
            start = offset // rows
            scale = layer[host][start:start + weight.shape[0]]
            old = np.asarray(weight.quantization.scale, np.float32)
            values = np.frombuffer(bytes(model.buffers[weight.buffer].data), np.int8).reshape(
                weight.shape[0], -1)
            rewrite(weight.buffer, np.clip(np.round(values * (old / scale)[:, None]), -127, 127),
                    np.int8)
            weight.quantization.scale = scale.copy()
            if len(op.inputs) > 2 and op.inputs[2] >= 0:
                bias = graph.tensors[op.inputs[2]]
                if bias.type != INT32 or not _per_channel(bias):
                    raise ValueError("an int8 conv's bias is not per-channel int32")
                bias_scale = np.float32(graph.tensors[op.inputs[0]].quantization.scale[0]) * scale
                values = np.frombuffer(bytes(model.buffers[bias.buffer].data), "<i4")
                rewrite(bias.buffer, np.round(values * (np.asarray(bias.quantization.scale,
                                                                   np.float32) / bias_scale)),
                        "<i4")
                bias.quantization.scale = bias_scale
    for buffer, data in written.items():
        model.buffers[buffer].data = data
