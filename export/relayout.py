"""Rewrite a converted multi-signature .tflite so that each signature can be cut out by byte copies.

The converter writes one flatbuffer in which subgraphs share vtables and
buffers sit anywhere. `relayout` writes the same model again (every weight
still stored once) with each of these in a self-contained, 16-aligned byte
region: every buffer; every signature's subgraph; every signature def; the
operator codes; the converter's metadata entries. An index of the regions
(JSON, positions counted from the end of the file) goes into the metadata
entry `dvn_cutout`. dvn_runtime/cutout.py reads it; the file is an ordinary
.tflite for anything else (LiteRT.js runs its signatures directly). Tensor
names are shortened to their numbers: the runtimes find tensors by number and
signatures by key, and the converter's long names took a third of the graph's bytes.
"""

import contextlib
import json
import struct

import flatbuffers
import numpy as np
from ai_edge_litert import schema_py_generated as schema

from dvn_runtime.cutout import ALIGN, INDEX_NAME, INDEX_VERSION

SIGNATURE_DEF_SUBGRAPH_INDEX = 4  # field number in schema.fbs


class _Region:
    """The extent of one region, as offsets from the end of the file: start > end."""

    start = end = None

    def span(self):
        return [self.start, self.end]


@contextlib.contextmanager
def _region(builder):
    """Build objects into a self-contained region: no vtable shared with outside, 16-aligned ends."""
    region = _Region()
    builder.vtables = {}
    builder.Prep(ALIGN, 0)
    region.end = builder.Offset()
    yield region
    builder.Prep(ALIGN, 0)
    region.start = builder.Offset()
    builder.vtables = {}


def _pack_buffer(builder, buffer):
    """A Buffer table with its data 16-aligned, as LiteRT's own writer aligns it."""
    if getattr(buffer, "offset", 0) or getattr(buffer, "size", 0):
        raise ValueError("the converter wrote a buffer outside the flatbuffer (a model over "
                         "2 GB); the shared layout does not support that")
    data = None
    if buffer.data is not None and len(buffer.data):
        raw = np.asarray(buffer.data, np.uint8).tobytes()
        builder.StartVector(1, len(raw), ALIGN)
        builder.head = builder.Head() - len(raw)
        builder.Bytes[builder.Head():builder.Head() + len(raw)] = raw
        data = builder.EndVector()
    schema.BufferStart(builder)
    if data is not None:
        schema.BufferAddData(builder, data)
    return schema.BufferEnd(builder)


def _field_from_end(builder, table, field):
    """Offset from the end of a scalar field of a finished table, or 0 when it is not stored."""
    position = len(builder.Bytes) - table
    vtable = position - struct.unpack_from("<i", builder.Bytes, position)[0]
    entry = 4 + 2 * field
    if entry >= struct.unpack_from("<H", builder.Bytes, vtable)[0]:
        return 0
    offset = struct.unpack_from("<H", builder.Bytes, vtable + entry)[0]
    return table - offset if offset else 0


def _vector(builder, offsets):
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def relayout(content):
    """The .tflite `content` (bytes, several signatures) rewritten in the cut-out layout."""
    model = schema.ModelT.InitFromPackedBuf(bytearray(content), 0)
    signatures = model.signatureDefs or []
    if sorted(s.subgraphIndex for s in signatures) != list(range(len(model.subgraphs))):
        raise ValueError("every subgraph must belong to exactly one signature (no control flow)")
    if model.buffers[0].data is not None and len(model.buffers[0].data):
        raise ValueError("buffer 0 of a .tflite must be empty")
    builder = flatbuffers.Builder(len(content) + 2 ** 16)
    buffers = [None] * len(model.buffers)
    for number in reversed(range(len(model.buffers))):
        with _region(builder) as region:
            table = _pack_buffer(builder, model.buffers[number])
        buffers[number] = [*region.span(), table]
    entries, subgraph_tables, signature_tables = [], [None] * len(model.subgraphs), []
    for signature in reversed(signatures):
        subgraph = model.subgraphs[signature.subgraphIndex]
        for number, tensor in enumerate(subgraph.tensors):
            tensor.name = str(number)
        with _region(builder) as definition:
            table = signature.Pack(builder)
        field = _field_from_end(builder, table, SIGNATURE_DEF_SUBGRAPH_INDEX)
        signature_tables.insert(0, table)
        with _region(builder) as graph:
            subgraph_tables[signature.subgraphIndex] = subgraph.Pack(builder)
        used = sorted({tensor.buffer for tensor in subgraph.tensors} - {0})
        entries.insert(0, {"key": signature.signatureKey.decode(), "region": graph.span(),
                           "subgraph": subgraph_tables[signature.subgraphIndex],
                           "signature_def": [*definition.span(), table, field],
                           "buffers": used})
    metadata = model.metadata or []
    with _region(builder) as metadata_region:
        metadata_tables = [entry.Pack(builder) for entry in reversed(metadata)][::-1]
    with _region(builder) as codes_region:
        code_tables = [code.Pack(builder) for code in reversed(model.operatorCodes)][::-1]
    index = {"version": INDEX_VERSION,
             "operator_codes": {"region": codes_region.span(), "tables": code_tables},
             "metadata": {"region": metadata_region.span(), "tables": metadata_tables,
                          "buffers": sorted({entry.buffer for entry in metadata})},
             "buffers": buffers, "signatures": entries}
    index_buffer = schema.BufferT()
    index_buffer.data = np.frombuffer(json.dumps(index, separators=(",", ":")).encode(), np.uint8)
    index_table = _pack_buffer(builder, index_buffer)
    name = builder.CreateString(INDEX_NAME)
    schema.MetadataStart(builder)
    schema.MetadataAddName(builder, name)
    schema.MetadataAddBuffer(builder, len(model.buffers))
    index_entry = schema.MetadataEnd(builder)
    description = builder.CreateString(model.description or b"")
    vectors = [_vector(builder, offsets) for offsets in (
        code_tables, subgraph_tables, [b[2] for b in buffers] + [index_table],
        metadata_tables + [index_entry], signature_tables)]
    schema.ModelStart(builder)
    schema.ModelAddVersion(builder, model.version)
    schema.ModelAddOperatorCodes(builder, vectors[0])
    schema.ModelAddSubgraphs(builder, vectors[1])
    schema.ModelAddDescription(builder, description)
    schema.ModelAddBuffers(builder, vectors[2])
    schema.ModelAddMetadata(builder, vectors[3])
    schema.ModelAddSignatureDefs(builder, vectors[4])
    builder.Finish(schema.ModelEnd(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
