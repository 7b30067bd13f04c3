"""The graph a signature's cut-out runs: each layer's per-unit convs merged, batch norm folded in.

In the shared file a level of l units runs each layer as l convs on channel
slices of its input, summed by ADDs, and each batch norm as a 1x1
DEPTHWISE_CONV_2D (export/unit_graph.py), because its weights must stay windows
of buffers that every level shares. A cut-out writes its weights anyway
(dvn_runtime/cutout.py), so it can write them as a per-level file has them.
`served_graph` rewrites a signature's subgraph for its cut-out:

  * a sum tree (ADDs whose inner tensors are read once, no activation inside)
    whose CONV_2D or FULLY_CONNECTED leaves read slices of one tensor
    (STRIDED_SLICE on the last axis) that tile it, with the same geometry,
    becomes one op on that tensor, whose weight is the leaves' weights side by
    side along the input axis;
  * a CONCATENATION on the last axis of DEPTHWISE_CONV_2D ops (a MobileNetV2
    layer's per-unit depthwise convs, export/unit_graph.py) that read slices
    tiling one tensor, with the same geometry, becomes one depthwise conv on
    that tensor, whose kernel and bias are theirs side by side; the batch norm
    that alone reads it (or reads a lone depthwise conv) is folded in: its
    scale multiplies each channel of the kernel, its offset is the bias;
  * a batch norm (1x1 DEPTHWISE_CONV_2D, depth multiplier 1, constant scale and
    offset) that alone reads a sum of convs: its scale multiplies each conv's
    output rows, its offset becomes a bias and its activation moves to the
    sum's last op. A batch norm after a residual sum (conv + shortcut) stays.

Weights that change are "made" buffers, numbered after the file's buffers: a
recipe (blocks side by side, outer rows or last-axis channels scaled) that the
cut-out computes from the shared file's bytes. Graphs of float32 weights and of
float16 weights (behind DEQUANTIZE) are rewritten; a graph with integer weights
(int8, dynamic range) is left as it is: folding a scale into int8 weights would
round them again.
"""

import copy

import numpy as np
from ai_edge_litert import schema_py_generated as schema

OP = schema.BuiltinOperator
LEAVES = (OP.CONV_2D, OP.FULLY_CONNECTED)
WEIGHTED = (*LEAVES, OP.DEPTHWISE_CONV_2D)
WEIGHT_TYPES = {schema.TensorType.FLOAT32: "float32", schema.TensorType.FLOAT16: "float16"}


def _activation(op):
    return getattr(op.builtinOptions, "fusedActivationFunction", 0)


class _Graph:
    """A subgraph being rewritten: who makes and who reads each tensor."""

    def __init__(self, model, graph, first_made):
        self.model, self.graph = model, graph
        self.made, self.first_made = [], first_made
        self.producer = {t: op for op in graph.operators for t in op.outputs}
        self.readers = {}
        for op in graph.operators:
            for t in op.inputs:
                if t >= 0:
                    self.readers.setdefault(t, []).append(op)
        self.outputs = set(graph.outputs)

    def code(self, op):
        code = self.model.operatorCodes[op.opcodeIndex]
        return max(code.builtinCode, code.deprecatedBuiltinCode)

    def constant(self, t):
        """(buffer, weight type) of a float32 constant or a DEQUANTIZE'd float16 one, else None."""
        if t < 0:
            return None
        source = self.producer.get(t)
        if source is not None:
            if self.code(source) != OP.DEQUANTIZE:
                return None
            t = source.inputs[0]
        tensor = self.graph.tensors[t]
        data = self.model.buffers[tensor.buffer].data
        if data is None or not len(data) or tensor.type not in WEIGHT_TYPES:
            return None
        return tensor.buffer, WEIGHT_TYPES[tensor.type]

    def zero(self, t):
        """Whether tensor t is absent or a constant of zeros."""
        if t < 0:
            return True
        found = self.constant(t)
        return found is not None and not np.any(np.asarray(self.model.buffers[found[0]].data))

    def read_once(self, t):
        return len(self.readers.get(t, ())) == 1 and t not in self.outputs

    def inner(self, op):
        """Whether op is a linear term of the ADD that alone reads its output."""
        t = op.outputs[0]
        if self.code(op) not in (*LEAVES, OP.ADD) or _activation(op) or not self.read_once(t):
            return False
        reader = self.readers[t][0]
        return (self.code(reader) == OP.ADD and list(self.graph.tensors[t].shape)
                == list(self.graph.tensors[reader.outputs[0]].shape))

    def terms(self, root):
        """(leaf ops, other tensors, ADD ops) of the sum tree at root."""
        if self.code(root) in LEAVES:
            return [root], [], []
        leaves, others, adds = [], [], [root]
        for t in root.inputs:
            op = self.producer.get(t)
            if op is not None and self.inner(op):
                more = self.terms(op)
                leaves += more[0]
                others += more[1]
                adds += more[2]
            else:
                others.append(t)
        return leaves, others, adds

    def source(self, leaf):
        """(tensor, first channel, end channel) a leaf reads: a slice of the last axis, or all."""
        t = leaf.inputs[0]
        op = self.producer.get(t)
        if op is not None and self.code(op) == OP.STRIDED_SLICE:
            x = op.inputs[0]
            rank = len(self.graph.tensors[x].shape)
            begin, end, strides = (self._ints(i) for i in op.inputs[1:4])
            options = op.builtinOptions
            full = (1 << (rank - 1)) - 1
            if (begin is not None and end is not None and strides is not None
                    and all(s == 1 for s in strides) and options.beginMask & full == full
                    and options.endMask & full == full and not options.beginMask >> (rank - 1)
                    and not options.endMask >> (rank - 1) and not options.ellipsisMask
                    and not options.newAxisMask and not options.shrinkAxisMask
                    and not options.offset and 0 <= begin[-1] < end[-1]):
                return x, int(begin[-1]), int(end[-1])
        return t, 0, int(self.graph.tensors[t].shape[-1])

    def _ints(self, t):
        tensor = self.graph.tensors[t]
        data = self.model.buffers[tensor.buffer].data
        if data is None or tensor.type != schema.TensorType.INT32:
            return None
        return np.frombuffer(bytes(data), "<i4")

    def new_tensor(self, like, shape, buffer=0):
        tensor = copy.deepcopy(self.graph.tensors[like])
        tensor.shape = np.asarray(shape, np.int32)
        tensor.shapeSignature = None
        tensor.buffer = buffer
        tensor.quantization = None
        self.graph.tensors.append(tensor)
        return len(self.graph.tensors) - 1

    def new_op(self, like, inputs, outputs, activation=None):
        op = copy.deepcopy(like)
        op.inputs, op.outputs = np.asarray(inputs, np.int32), np.asarray(outputs, np.int32)
        if activation is not None:
            op.builtinOptions.fusedActivationFunction = activation
        return op

    def made_weight(self, leaves, scale=None, operand=1):
        """The float32 tensor of the leaves' `operand`s (weights; 2: biases) side by side, times
        `scale` (None, or [tensor, axis]: 0 scales outer rows, -1 the last axis)."""
        weights = [self.constant(leaf.inputs[operand]) for leaf in leaves]
        widths = [int(self.graph.tensors[leaf.inputs[operand]].shape[-1]) for leaf in leaves]
        first = leaves[0].inputs[operand]
        shape = [int(n) for n in self.graph.tensors[first].shape[:-1]] + [sum(widths)]
        kind = weights[0][1]
        if scale is not None:
            factors, factor_kind = self.constant(scale[0])
            scale = [int(factors), factor_kind, scale[1]]
        self.made.append({"shape": shape if len(shape) > 1 else [1, *shape], "type": kind,
                          "blocks": [[int(b), width] for (b, _), width in zip(weights, widths)],
                          "scale": scale})
        buffer = self.first_made + len(self.made) - 1
        if kind == "float32":
            return self.new_tensor(first, shape, buffer)
        dequantize = self.producer[first]
        stored = self.new_tensor(dequantize.inputs[0], shape, buffer)
        values = self.new_tensor(first, shape)
        self.graph.operators.append(self.new_op(dequantize, [stored], [values]))
        return values


def _groups(graph, leaves):
    """[(tensor read, leaves)]: leaves that read slices tiling one tensor in order, with the same
    op, options and weight kind, make one group (tensor: the sliced one); others one each (None)."""
    keyed = {}
    for leaf in leaves:
        x, begin, end = graph.source(leaf)
        key = (graph.code(leaf), x, repr(vars(leaf.builtinOptions)),
               tuple(graph.graph.tensors[leaf.inputs[1]].shape[:-1]),
               graph.constant(leaf.inputs[1])[1])
        keyed.setdefault(key, []).append((begin, end, leaf))
    groups = []
    for key, members in keyed.items():
        members.sort(key=lambda member: member[0])
        edges = [0] + [end for _, end, _ in members]
        tiled = (len(members) > 1 and edges[-1] == graph.graph.tensors[key[1]].shape[-1]
                 and all(begin == edges[i] for i, (begin, _, _) in enumerate(members))
                 and sum(not graph.zero(leaf.inputs[2]) for _, _, leaf in members) <= 1)
        if tiled:
            groups.append((key[1], [leaf for _, _, leaf in members]))
        else:
            groups += [(None, [leaf]) for _, _, leaf in members]
    return groups


def _affine_reader(graph, op):
    """The batch norm (affine 1x1 DEPTHWISE_CONV_2D) that alone reads op's output, or None."""
    t = op.outputs[0]
    if _activation(op) or not graph.read_once(t):
        return None
    norm = graph.readers[t][0]
    if graph.code(norm) != OP.DEPTHWISE_CONV_2D or norm.inputs[0] != t:
        return None
    options = norm.builtinOptions
    channels = graph.graph.tensors[t].shape[-1]
    if (options.depthMultiplier != 1 or (options.strideW, options.strideH, options.dilationWFactor,
                                         options.dilationHFactor) != (1, 1, 1, 1)
            or list(graph.graph.tensors[norm.inputs[1]].shape) != [1, 1, 1, channels]
            or graph.constant(norm.inputs[1]) is None
            or (len(norm.inputs) > 2 and norm.inputs[2] >= 0
                and graph.constant(norm.inputs[2]) is None)):
        return None
    return norm


def _norm(graph, root, leaves, others):
    """The batch norm that alone reads a sum of bias-free convs, or None."""
    if others or any(graph.code(leaf) != OP.CONV_2D or not graph.zero(leaf.inputs[2])
                     for leaf in leaves):
        return None
    return _affine_reader(graph, root)


def _rewrite(graph, root, removed, added):
    """Rewrite the sum tree at root (merge, fold); whether it changed."""
    leaves, others, adds = graph.terms(root)
    norm = _norm(graph, root, leaves, others)
    groups = _groups(graph, leaves)
    if norm is None and all(len(members) == 1 for _, members in groups):
        return False
    final = norm.outputs[0] if norm else root.outputs[0]
    activation = _activation(norm if norm else root)
    scale = [norm.inputs[1], 0] if norm else None
    shape = graph.graph.tensors[final].shape
    terms, ops = [], []
    for x, members in groups:
        leaf = members[0]
        if norm is None and len(members) == 1:
            terms.append(leaf.outputs[0])
            continue
        bias = next((m.inputs[2] for m in members if not graph.zero(m.inputs[2])), leaf.inputs[2])
        if norm is not None and not ops and len(norm.inputs) > 2 and norm.inputs[2] >= 0:
            bias = norm.inputs[2]
        weight = graph.made_weight(members, scale)
        ops.append(graph.new_op(leaf, [leaf.inputs[0] if x is None else x, weight, bias],
                                [graph.new_tensor(final, shape)], 0))
        terms.append(ops[-1].outputs[0])
        removed.update(id(m) for m in members)
    terms += others
    removed.update(id(op) for op in (*adds, *([norm] if norm else [])))
    like = adds[0] if adds else None
    total = terms[0]
    for i, term in enumerate(terms[1:], 1):
        last = i == len(terms) - 1
        ops.append(graph.new_op(like, [total, term],
                                [final if last else graph.new_tensor(final, shape)],
                                activation if last else 0))
        total = ops[-1].outputs[0]
    if len(terms) == 1:  # one op makes the final tensor
        ops[-1].outputs = np.asarray([final], np.int32)
        ops[-1].builtinOptions.fusedActivationFunction = activation
    added += ops
    return True


def _merge_depthwise(graph, root, removed, added):
    """Rewrite a depthwise layer at root (a CONCATENATION of per-unit depthwise convs, or one
    depthwise conv) as one depthwise conv with the batch norm that alone reads it folded in;
    whether it changed."""
    concat = graph.code(root) == OP.CONCATENATION
    members = [graph.producer.get(t) for t in root.inputs] if concat else [root]
    rank = len(graph.graph.tensors[root.outputs[0]].shape)
    if ((concat and (_activation(root) or root.builtinOptions.axis not in (-1, rank - 1)))
            or any(op is None or graph.code(op) != OP.DEPTHWISE_CONV_2D
                   or op.builtinOptions.depthMultiplier != 1
                   or (concat and (_activation(op) or not graph.read_once(op.outputs[0])))
                   or graph.constant(op.inputs[1]) is None or len(op.inputs) < 3
                   or graph.constant(op.inputs[2]) is None for op in members)):
        return False
    x = members[0].inputs[0]
    if concat:
        (x, tiling), *more = _groups(graph, members)
        if more or tiling != members:  # not one tiling, in the concatenation's order
            return False
    norm = _affine_reader(graph, root)
    if norm is not None and (len(norm.inputs) < 3 or norm.inputs[2] < 0
                             or not all(graph.zero(op.inputs[2]) for op in members)):
        norm = None
    if norm is None and not concat:
        return False
    weight = graph.made_weight(members, norm and [norm.inputs[1], -1])
    bias = norm.inputs[2] if norm else graph.made_weight(members, operand=2)
    final = norm or root
    added.append(graph.new_op(members[0], [x, weight, bias], [final.outputs[0]],
                              _activation(final)))
    removed.update(id(op) for op in (*members, root, *([norm] if norm else [])))
    return True


def _compact(graph):
    """Drop ops whose outputs nobody reads and tensors no op uses; {old tensor: new number}."""
    ops = graph.operators
    while True:
        read = set(graph.outputs) | {t for op in ops for t in op.inputs}
        alive = [op for op in ops if any(t in read for t in op.outputs)]
        if len(alive) == len(ops):
            break
        ops = alive
    used = sorted(set(graph.inputs) | set(graph.outputs)
                  | {t for op in ops for t in (*op.inputs, *op.outputs) if t >= 0})
    number = {t: i for i, t in enumerate(used)}
    for op in ops:
        op.inputs = np.asarray([number[t] if t >= 0 else t for t in op.inputs], np.int32)
        op.outputs = np.asarray([number[t] for t in op.outputs], np.int32)
    graph.inputs = np.asarray([number[t] for t in graph.inputs], np.int32)
    graph.outputs = np.asarray([number[t] for t in graph.outputs], np.int32)
    graph.tensors = [graph.tensors[t] for t in used]
    for i, tensor in enumerate(graph.tensors):
        tensor.name = str(i)
    graph.operators = ops
    return number


def served_graph(model, graph, signature, first_made):
    """(subgraph, signature def, made recipes) of a signature's cut-out; None if nothing changes.

    `graph` and `signature` (object API) are not changed; made buffers are
    numbered from `first_made`.
    """
    rewritten = _Graph(model, copy.deepcopy(graph), first_made)
    if any(rewritten.code(op) in WEIGHTED and rewritten.constant(op.inputs[1]) is None
           for op in rewritten.graph.operators):
        return None  # integer weights (int8, dynamic range): left whole, as the file has them
    removed, added = set(), []
    changed = False
    for root in list(rewritten.graph.operators):
        if rewritten.code(root) in (*LEAVES, OP.ADD) and not rewritten.inner(root):
            changed |= _rewrite(rewritten, root, removed, added)
        elif (rewritten.code(root) in (OP.CONCATENATION, OP.DEPTHWISE_CONV_2D)
              and id(root) not in removed):
            changed |= _merge_depthwise(rewritten, root, removed, added)
    if not changed:
        return None
    rewritten.graph.operators = [op for op in rewritten.graph.operators
                                 if id(op) not in removed] + added
    number = _compact(rewritten.graph)
    definition = copy.deepcopy(signature)
    definition.subgraphIndex = 0
    for entry in (*definition.inputs, *definition.outputs):
        entry.tensorIndex = number[entry.tensorIndex]
    return rewritten.graph, definition, rewritten.made
