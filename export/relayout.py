"""Rewrite a converted multi-signature .tflite: every weight stored once, each signature cut out by copies.

The converter writes a constant per (signature, kernel): a level's conv kernel
on a run of units is a separate copy of columns that the top level's kernel
also holds. `relayout` writes the same model again with

  * every buffer's bytes in a data section after the flatbuffer (LiteRT's
    Buffer.offset / size), stored once: a buffer whose bytes are a window of
    whole outer rows of a larger buffer ([out, H, W, in] filters: a run of
    output channels) points into that buffer's bytes instead;
  * each of these in a self-contained, 16-aligned byte region of the
    flatbuffer: every signature's subgraph; every signature def; the operator
    codes; the converter's metadata entries;
  * in an int8 file, every unit block of a conv layer quantized with the
    layer's per-channel scales (export/layer_scales.py), so that a level's
    per-unit convs carry equal parameters;
  * in a subgraph's region, each distinct quantization stored once: tensors
    with equal parameters (an int8 level's per-unit convs, their zero points)
    point at one QuantizationParameters table, and tables at shared vectors;
    a vector that several regions hold (a block's weight scales, zero points)
    is stored once in a pool region at the flatbuffer's end, and the index
    lists it ("vectors") and, per signature, the fields of its region that
    point at it ("relocations"), which a cut-out rewrites;
  * beside each float signature, the graph its cut-out runs instead
    (export/served.py: a layer's per-unit convs merged, batch norm folded in)
    and its signature def, in regions that only the index reaches, with the
    recipes of the weights that graph computes while cutting;
  * an index of the regions, pooled vectors, relocations and of every
    buffer's bytes (JSON, absolute positions) in the metadata entry
    `dvn_cutout`, which dvn_runtime/cutout.py reads to cut out one signature.

The file stays an ordinary .tflite (LiteRT.js runs its signatures directly).
Tensor names are shortened to their numbers: the runtimes find tensors by
number and signatures by key, and the converter's long names took a third of
the graph's bytes.
"""

import contextlib
import json
import struct
from collections import Counter

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from dvn_runtime.cutout import ALIGN, INDEX_NAME, INDEX_VERSION
from export.layer_scales import full_integer, share_layer_scales
from export.served import served_graph

SIGNATURE_DEF_SUBGRAPH_INDEX = 4  # field number in schema.fbs
_KEY_BYTES = 32  # bytes of a row start that index a window candidate
_ITEM_BYTES = {schema.TensorType.FLOAT32: 4, schema.TensorType.FLOAT16: 2,
               schema.TensorType.INT32: 4, schema.TensorType.INT8: 1,
               schema.TensorType.UINT8: 1, schema.TensorType.INT64: 8}


def _aligned(position):
    return -(-position // ALIGN) * ALIGN


def stored_once(model):
    """[(host buffer, byte offset)] per buffer: itself at 0, or the buffer whose rows it repeats.

    A window must start at a row boundary of the host (a row: all but the
    outer dimension) and rows of both must be equally long.
    """
    rows = {}
    for graph in model.subgraphs:
        for tensor in graph.tensors:
            data = model.buffers[tensor.buffer].data
            shape = [] if tensor.shape is None else list(tensor.shape)
            if data is not None and len(data) and shape:
                rows[tensor.buffer] = len(data) // max(1, shape[0])
    sizes = {b: len(buffer.data) if buffer.data is not None else 0
             for b, buffer in enumerate(model.buffers)}
    placement = {b: (b, 0) for b in range(len(model.buffers))}
    starts = {}  # (row bytes, first bytes of a row) -> [(host, offset)]
    for b in sorted(rows, key=lambda b: -sizes[b]):
        data = bytes(model.buffers[b].data)
        key = (rows[b], data[:_KEY_BYTES])
        for host, offset in starts.get(key, ()):
            hosted = bytes(model.buffers[host].data)
            if hosted[offset:offset + len(data)] == data:
                placement[b] = (host, offset)
                break
        else:
            for offset in range(0, len(data), rows[b]):
                starts.setdefault((rows[b], data[offset:offset + _KEY_BYTES]), []).append(
                    (b, offset))
    return placement


def schedule(graph):
    """The subgraph's operators in a depth-first post-order from its outputs.

    Any topological order computes the same; this one runs each operator as
    soon as its inputs exist (a level's convs each followed by the add of
    their partial sums), so fewer tensors are alive at once and XNNPACK plans
    less memory than for the converter's order (all convs of a layer, then
    all adds).
    """
    producer = {t: i for i, op in enumerate(graph.operators) for t in op.outputs}
    order, done = [], set()
    for output in graph.outputs:
        stack = [(producer[output], False)] if output in producer else []
        while stack:
            op, expanded = stack.pop()
            if op in done:
                continue
            if expanded:
                done.add(op)
                order.append(op)
                continue
            stack.append((op, True))
            inputs = [producer[t] for t in graph.operators[op].inputs if t in producer]
            stack.extend((i, False) for i in reversed(inputs) if i not in done)
    order += [i for i in range(len(graph.operators)) if i not in done]
    return [graph.operators[i] for i in order]


class _Region:
    """The extent [start, end) of one region, first as offsets from the end of the builder."""

    start = end = None


@contextlib.contextmanager
def _region(builder, regions):
    """Build objects into a self-contained region: no vtable shared with outside, 16-aligned ends."""
    region = _Region()
    builder.vtables = {}
    builder.Prep(ALIGN, 0)
    region.end = builder.Offset()
    yield region
    builder.Prep(ALIGN, 0)
    region.start = builder.Offset()
    builder.vtables = {}
    regions.append(region)


class _Packed:
    """An object-API field already in the builder: its Pack gives its offset."""

    def __init__(self, offset):
        self.offset = offset

    def Pack(self, builder):
        return self.offset


# QuantizationParameters' vectors in field-number order: min, max, scale, zero_point
_QUANTIZATION_VECTORS = (("min", np.float32, schema.QuantizationParametersAddMin),
                         ("max", np.float32, schema.QuantizationParametersAddMax),
                         ("scale", np.float32, schema.QuantizationParametersAddScale),
                         ("zeroPoint", np.int64, schema.QuantizationParametersAddZeroPoint))
_DTYPES = {field: dtype for field, dtype, _ in _QUANTIZATION_VECTORS}


def _quantization_key(quantization):
    """What makes two QuantizationParameters equal (a custom `details` is never shared)."""
    vectors = tuple(None if getattr(quantization, field) is None else
                    np.asarray(getattr(quantization, field), dtype).tobytes()
                    for field, dtype, _ in _QUANTIZATION_VECTORS)
    details = None if quantization.details is None else id(quantization)
    return vectors, quantization.detailsType, details, quantization.quantizedDimension


def _vectors(quantization):
    """[(field number, (field, bytes))] of a QuantizationParameters' vectors."""
    return [(number, (field, np.asarray(getattr(quantization, field), dtype).tobytes()))
            for number, (field, dtype, _) in enumerate(_QUANTIZATION_VECTORS)
            if getattr(quantization, field) is not None]


def pooled_vectors(graphs):
    """{(field, bytes): values} of the quantization vectors that several of `graphs` (each in
    its own region) hold: the file stores them once, in the pool region."""
    regions = Counter(key for graph in graphs for key in {
        key for tensor in graph.tensors if tensor.quantization is not None
        for _, key in _vectors(tensor.quantization)})
    return {key: np.frombuffer(key[1], _DTYPES[key[0]]) for key, count in regions.items()
            if count > 1}


def _pack_quantization(builder, quantization, vectors, pool, relocations):
    """A QuantizationParameters table whose vectors are packed once per region (`vectors`) or
    are in the pool (`pool`: then its field's position joins `relocations`)."""
    fields = []
    for number, key in _vectors(quantization):
        if key not in pool and key not in vectors:
            vectors[key] = builder.CreateNumpyVector(np.frombuffer(key[1], _DTYPES[key[0]]))
        fields.append((number, key, pool[key] if key in pool else vectors[key]))
    details = None if quantization.details is None else quantization.details.Pack(builder)
    schema.QuantizationParametersStart(builder)
    for number, _, offset in fields:
        _QUANTIZATION_VECTORS[number][2](builder, offset)
    schema.QuantizationParametersAddDetailsType(builder, quantization.detailsType)
    if details is not None:
        schema.QuantizationParametersAddDetails(builder, details)
    schema.QuantizationParametersAddQuantizedDimension(builder, quantization.quantizedDimension)
    table = schema.QuantizationParametersEnd(builder)
    relocations += [(_field_from_end(builder, table, number), key)
                    for number, key, _ in fields if key in pool]
    return table


def _pack_subgraph(builder, graph, pool):
    """(table, relocations) of a subgraph (object API, left unchanged) packed with each distinct
    quantization once; relocations: [(offset from the end of a field, pooled vector key)]."""
    tables, vectors, relocations = {}, {}, []
    originals = [tensor.quantization for tensor in graph.tensors]
    for tensor in graph.tensors:
        if tensor.quantization is not None:
            key = _quantization_key(tensor.quantization)
            if key not in tables:
                tables[key] = _Packed(_pack_quantization(builder, tensor.quantization, vectors,
                                                         pool, relocations))
            tensor.quantization = tables[key]
    try:
        return graph.Pack(builder), relocations
    finally:
        for tensor, quantization in zip(graph.tensors, originals):
            tensor.quantization = quantization


def _vector(builder, offsets):
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _field_from_end(builder, table, field):
    """Offset from the end of a field of a finished table, or 0 when it is not stored."""
    position = len(builder.Bytes) - table
    vtable = position - struct.unpack_from("<i", builder.Bytes, position)[0]
    entry = 4 + 2 * field
    if entry >= struct.unpack_from("<H", builder.Bytes, vtable)[0]:
        return 0
    offset = struct.unpack_from("<H", builder.Bytes, vtable + entry)[0]
    return table - offset if offset else 0


def _flatbuffer(model, extents, served, pooled):
    """The model's flatbuffer with buffers at `extents` [(offset, size)]; its regions and tables.

    `served` maps a subgraph number to the (subgraph, signature def) that its
    cut-out runs instead (export/served.py); they sit in their own regions.
    `pooled` (pooled_vectors) go into a pool region at the flatbuffer's end.
    Positions are offsets from the end of the flatbuffer.
    """
    for buffer, (offset, size) in zip(model.buffers, extents):
        buffer.data, buffer.offset, buffer.size = None, offset, size
    builder = flatbuffers.Builder(2 ** 16)
    regions, entries = [], []
    with _region(builder, regions):
        pool = {key: builder.CreateNumpyVector(values) for key, values in pooled.items()}
    subgraph_tables, signature_tables = [None] * len(model.subgraphs), []
    for signature in reversed(model.signatureDefs):
        cutout = served.get(signature.subgraphIndex)
        if cutout is not None:  # the cut-out's own graph: in the file, but no signature's
            with _region(builder, regions) as definition:
                table = cutout[1].Pack(builder)
            field = _field_from_end(builder, table, SIGNATURE_DEF_SUBGRAPH_INDEX)
            with _region(builder, regions) as graph:
                subgraph, relocations = _pack_subgraph(builder, cutout[0], pool)
        with _region(builder, regions) as whole_definition:
            whole_table = signature.Pack(builder)
        signature_tables.insert(0, whole_table)
        with _region(builder, regions) as whole_graph:
            subgraph_tables[signature.subgraphIndex], whole_relocations = _pack_subgraph(
                builder, model.subgraphs[signature.subgraphIndex], pool)
        if cutout is None:
            definition, table, graph = whole_definition, whole_table, whole_graph
            field = _field_from_end(builder, table, SIGNATURE_DEF_SUBGRAPH_INDEX)
            subgraph, relocations = subgraph_tables[signature.subgraphIndex], whole_relocations
        entries.insert(0, (signature, graph, subgraph, definition, table, field, relocations))
    with _region(builder, regions) as metadata_region:
        metadata_tables = [entry.Pack(builder) for entry in reversed(model.metadata)][::-1]
    with _region(builder, regions) as codes_region:
        code_tables = [code.Pack(builder) for code in reversed(model.operatorCodes)][::-1]
    buffer_tables = [buffer.Pack(builder) for buffer in reversed(model.buffers)][::-1]
    description = builder.CreateString(model.description or b"")
    vectors = [_vector(builder, offsets) for offsets in (
        code_tables, subgraph_tables, buffer_tables, metadata_tables, signature_tables)]
    schema.ModelStart(builder)
    schema.ModelAddVersion(builder, model.version)
    schema.ModelAddOperatorCodes(builder, vectors[0])
    schema.ModelAddSubgraphs(builder, vectors[1])
    schema.ModelAddDescription(builder, description)
    schema.ModelAddBuffers(builder, vectors[2])
    schema.ModelAddMetadata(builder, vectors[3])
    schema.ModelAddSignatureDefs(builder, vectors[4])
    builder.Finish(schema.ModelEnd(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), entries, (codes_region, code_tables), (
        metadata_region, metadata_tables), pool


def relayout(content):
    """The .tflite `content` (bytes, several signatures) rewritten in the cut-out layout."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    signatures = model.signatureDefs or []
    if sorted(s.subgraphIndex for s in signatures) != list(range(len(model.subgraphs))):
        raise ValueError("every subgraph must belong to exactly one signature (no control flow)")
    if any(getattr(b, "offset", 0) > 1 for b in model.buffers):
        raise ValueError("the converter wrote buffers outside the flatbuffer (a model over "
                         "2 GB); the shared layout does not support that")
    for graph in model.subgraphs:
        graph.operators = schedule(graph)
        for number, tensor in enumerate(graph.tensors):
            tensor.name = str(number)
    if full_integer(model):
        share_layer_scales(model, stored_once(model))
    served, made, first_made = {}, {}, len(model.buffers)
    for signature in signatures:
        cutout = served_graph(model, model.subgraphs[signature.subgraphIndex], signature,
                              first_made)
        if cutout is not None:
            cutout[0].operators = schedule(cutout[0])
            served[signature.subgraphIndex] = cutout[:2]
            made[signature.subgraphIndex] = cutout[2]
    model.metadata = [m for m in (model.metadata or []) if m.name != INDEX_NAME]
    index_entry = schema.MetadataT()
    index_entry.name, index_entry.buffer = INDEX_NAME, len(model.buffers)
    model.metadata.append(index_entry)
    index_buffer = schema.BufferT()
    model.buffers.append(index_buffer)
    placement = stored_once(model)
    blobs = [bytes(b.data) if b.data is not None else b"" for b in model.buffers]
    placeholder = [(2, max(1, len(blob))) if blob or b == len(blobs) - 1 else (0, 0)
                   for b, blob in enumerate(blobs)]  # the final extents store the same fields
    pooled = pooled_vectors([graph for s in signatures for graph in (
        model.subgraphs[s.subgraphIndex], *served.get(s.subgraphIndex, [])[:1])])
    head, entries, codes, metadata, pool = _flatbuffer(model, placeholder, served, pooled)
    vectors = {key: number for number, key in enumerate(pool)}

    def absolute(region):
        return [len(head) - region.start, len(head) - region.end]

    index = {"version": INDEX_VERSION,
             "operator_codes": {"region": absolute(codes[0]),
                                "tables": [len(head) - t for t in codes[1]]},
             "metadata": {"region": absolute(metadata[0]),
                          "tables": [len(head) - t for t in metadata[1][:-1]],
                          "buffers": sorted({m.buffer for m in model.metadata[:-1]})},
             "vectors": [[len(head) - offset, 4 + len(key[1])] for key, offset in pool.items()],
             "signatures": [
                 {"key": signature.signatureKey.decode(), "region": absolute(graph),
                  "subgraph": len(head) - subgraph,
                  "signature_def": [*absolute(definition), len(head) - table,
                                    len(head) - field if field else 0],
                  "buffers": sorted({t.buffer for t in served.get(signature.subgraphIndex, [
                      model.subgraphs[signature.subgraphIndex]])[0].tensors
                      if t.buffer < first_made and blobs[t.buffer]}),
                  "made": made.get(signature.subgraphIndex, []),
                  "relocations": [[len(head) - slot, vectors[key]] for slot, key in relocations]}
                 for signature, graph, subgraph, definition, table, field, relocations
                 in entries]}
    data_start = _aligned(len(head))
    position, starts = data_start, {}
    for b, (host, _) in placement.items():
        if host == b and blobs[b]:
            starts[b] = position
            position = _aligned(position + len(blobs[b]))
    extents = [(starts[host] + offset, len(blobs[b])) if blobs[b] else (0, 0)
               for b, (host, offset) in placement.items()][:-1]
    index["data"] = extents
    blobs[-1] = json.dumps(index, separators=(",", ":")).encode()
    extents.append((position, len(blobs[-1])))
    head, *_ = _flatbuffer(model, extents, served, pooled)
    if _aligned(len(head)) != data_start:
        raise AssertionError("the flatbuffer changed length between its two passes")
    data = bytearray(position + len(blobs[-1]) - data_start)
    for b, start in starts.items():
        data[start - data_start:start - data_start + len(blobs[b])] = blobs[b]
    data[position - data_start:] = blobs[-1]
    return head + bytes(data_start - len(head)) + bytes(data)
