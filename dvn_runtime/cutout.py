"""Cut one signature out of a shared-layout .tflite: a standalone model of only that level.

The shared file of `python -m export --layout=shared` holds every (task, level)
as a signature, each weight stored once. Loading it whole would make XNNPACK
pack the weights of every signature; serving a level from a cut-out costs what
that level's own file costs. The cut-out needs no TensorFlow and no flatbuffers
object API: export/relayout.py writes the file so that everything one
signature's cut-out needs sits in self-contained byte regions and its weights in
a data section (LiteRT's Buffer.offset / size), all listed in an index (JSON in
the file's metadata entry `dvn_cutout`, absolute positions). The graph a
cut-out runs is not the signature's own but one written for it
(export/served.py): per layer one conv with batch norm folded in, as in a
per-level file. Its changed weights are "made" buffers, numbered after the
file's buffers, each a recipe: blocks of stored buffers side by side along
the last axis, every outer row (or every last-axis channel: a depthwise
kernel) times a stored scale (make). A cut-out
copies the regions and the used buffers' bytes, computes the made buffers and
writes a new model table in front of them, so it costs about one pass over the
level's weights.

The cut-out, front to back (zero padding; regions and data 16-aligned):
  root offset, "TFL3", the model's vtable and table (version, operator codes,
  subgraphs, buffers, metadata, signature defs) and their vectors;
  Buffer tables: one empty (every stored buffer number the cut-out does not use
  points to it, so numbers stay those of the shared file), then one per used
  buffer in ascending number, then one per made buffer, with the offset and
  size of its bytes below;
  the operator-codes region; the metadata region (the converter's entries);
  the cut-out's subgraph region; its signature-def region, whose subgraph
  index is set to 0; the pooled vectors it uses, in ascending number, each
  placed so that its elements (after the 4-byte length) start 16-aligned; the
  used buffers' bytes in ascending number (from a 16-aligned position); the
  made buffers' bytes in order.

Pooled vectors (index version 5): quantization vectors (scales, zero points)
that several signatures' subgraphs hold are stored once in the file, outside
their regions; index "vectors" lists each one's [position of its length,
bytes with the length], and a signature's "relocations" [[position of a
field, vector number], ...] the QuantizationParameters fields of its region
that point at them: the cut-out writes each such field (a uint32, little
endian) as the vector's new position minus the field's new position.
"""

import json
import mmap
import struct
import threading

import numpy as np
from ai_edge_litert import schema_py_generated as schema

INDEX_NAME = b"dvn_cutout"
INDEX_VERSION = 5
READ_VERSIONS = (3, 4, 5)  # 3: no scale axis (outer rows); before 5: no pooled vectors
ALIGN = 16
MODEL_VERSION = 3
# Model table fields of LiteRT's schema.fbs, in vtable order; 0 marks a field left out.
_MODEL_VTABLE = (20, 28, 4, 8, 12, 0, 16, 0, 20, 24)
_EMPTY_BUFFER_VTABLE = (4, 4)
_BUFFER_VTABLE = (10, 24, 0, 8, 16)  # data (absent), offset (uint64), size (uint64)
_WEIGHT_TYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}


class CutoutError(ValueError):
    """A shared file has no usable cut-out index, or no such signature."""


class SharedFile:
    """A shared-layout .tflite, memory-mapped read-only, that cuts out one signature at a time.

    Pages the cut-out touched are dropped from this process after each
    cut-out (madvise), so the mapping holds no resident memory between switches.
    """

    def __init__(self, path):
        self.path = path
        with open(path, "rb") as file:
            try:
                self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError as error:  # an empty file
                raise CutoutError(f"{path} is empty: {error}") from None
        try:
            self.index = read_index(self._map)
        except CutoutError:
            self.close()
            raise
        self.signatures = {s["key"]: s for s in self.index["signatures"]}

    def close(self):
        """Unmaps the file."""
        self._map.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def cutout(self, key):
        """The standalone .tflite (bytes) of signature `key`."""
        if key not in self.signatures:
            raise CutoutError(f"{self.path} has no signature {key!r}; it has "
                              f"{', '.join(self.signatures)}")
        try:
            return cut(self._map, self.index, self.signatures[key])
        except (IndexError, KeyError, TypeError, ValueError, struct.error) as error:
            raise CutoutError(f"{self.path}: its cut-out index does not fit the file "
                              f"({type(error).__name__}: {error})") from None
        finally:
            if hasattr(mmap, "MADV_DONTNEED"):
                self._map.madvise(mmap.MADV_DONTNEED)


class SharedFiles:
    """The shared files a runtime cuts levels out of, each opened once; thread-safe."""

    def __init__(self):
        self._files = {}
        self._lock = threading.Lock()

    def cutout(self, path, key):
        """The cut-out (bytes) of signature `key` of the shared file at `path`."""
        with self._lock:
            if path not in self._files:
                self._files[path] = SharedFile(path)
            return self._files[path].cutout(key)

    def close(self):
        """Unmaps every file."""
        with self._lock:
            for file in self._files.values():
                file.close()
            self._files.clear()


def read_index(content):
    """The cut-out index of a shared-layout file (bytes or mmap); CutoutError when it has none."""
    try:
        model = schema.Model.GetRootAs(content, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() == INDEX_NAME:
                buffer = model.Buffers(entry.Buffer())
                index = json.loads(bytes(content[buffer.Offset():buffer.Offset() + buffer.Size()]))
                break
        else:
            raise CutoutError("it has no cut-out index (metadata 'dvn_cutout'): it is not a "
                              "shared-layout file of `python -m export --layout=shared`")
    except (struct.error, IndexError, TypeError, ValueError, UnicodeDecodeError) as error:
        if isinstance(error, CutoutError):
            raise
        raise CutoutError(f"its cut-out index cannot be read ({error})") from None
    if not isinstance(index, dict) or index.get("version") not in READ_VERSIONS:
        raise CutoutError(f"its cut-out index has version {index.get('version')!r}; this "
                          f"runtime reads versions {', '.join(map(str, READ_VERSIONS))}: "
                          "export again")
    return index


def _aligned(position, alignment=ALIGN):
    return -(-position // alignment) * alignment


def _put(head, position, values, fmt):
    struct.pack_into(f"<{len(values)}{fmt}", head, position, *values)


def read_buffers(signature):
    """Every stored buffer that the cut-out of a signature entry reads: copied or made from."""
    sources = {block[0] for recipe in signature["made"] for block in recipe["blocks"]}
    sources |= {recipe["scale"][0] for recipe in signature["made"] if recipe["scale"]}
    return sorted(set(signature["buffers"]) | sources)


def made_size(recipe):
    """Bytes of a made buffer."""
    return int(np.prod(recipe["shape"])) * _WEIGHT_TYPES[recipe["type"]].itemsize


def make(content, data, recipe):
    """A made buffer (a numpy array): its blocks side by side along the last axis, every outer
    row (scale axis 0) or every last-axis channel (axis -1) times its scale.

    float16 weights are scaled in float32 and rounded to float16 (nearest even).
    """
    dtype, shape = _WEIGHT_TYPES[recipe["type"]], recipe["shape"]
    inner = int(np.prod(shape[1:-1]))

    def values(buffer, count, value_type):
        start, size = data[buffer][:2]
        if size != count * value_type.itemsize:
            raise ValueError(f"buffer {buffer} has {size} bytes; a recipe reads "
                             f"{count * value_type.itemsize}")
        return np.frombuffer(content, value_type, count, start)

    if sum(width for _, width in recipe["blocks"]) != shape[-1]:
        raise ValueError(f"a recipe's blocks do not add up to its shape {shape}")
    scale = axis = None
    if recipe["scale"]:
        buffer, kind, *axis = recipe["scale"]
        axis = axis[0] if axis else 0  # index version 3 scales outer rows only
        if axis not in (0, -1):
            raise ValueError(f"a recipe scales axis {axis}; this runtime scales 0 and -1")
        scale = values(buffer, shape[axis], _WEIGHT_TYPES[kind]).astype(np.float32)
        if axis == 0:
            scale = scale[:, None, None]
    weights = np.empty((shape[0], inner, shape[-1]), dtype)
    column = 0
    for buffer, width in recipe["blocks"]:
        block = values(buffer, shape[0] * inner * width, dtype).reshape(shape[0], inner, width)
        window = weights[:, :, column:column + width]
        if scale is None:
            window[...] = block
        else:
            factors = scale if axis == 0 else scale[column:column + width]
            np.multiply(block, factors, out=window, casting="same_kind")
        column += width
    return weights


def cut(content, index, signature):
    """The cut-out (bytes) of one signature entry of `index` from a shared file's bytes."""
    data = index["data"]
    used = sorted(set(signature["buffers"]) | set(index["metadata"]["buffers"]))
    made = signature["made"]
    count = len(used) + len(made)
    codes, metadata = index["operator_codes"]["tables"], index["metadata"]["tables"]
    table = 8 + 2 * len(_MODEL_VTABLE)  # the model table follows the root, "TFL3" and its vtable
    vectors = table + 28
    buffers = _aligned(vectors + 4 * (5 + len(codes) + 1 + len(data) + len(made)
                                      + len(metadata) + 1), 8)
    empty, first = buffers + 4, buffers + 24  # the empty table; the first data buffer's table
    regions = [index["operator_codes"]["region"], index["metadata"]["region"],
               signature["region"], signature["signature_def"][:2]]
    starts, position = [], _aligned(first + 24 * count)
    for start, end in regions:
        starts.append(position)
        position = _aligned(position + end - start)
    pooled, relocations = index.get("vectors", []), signature.get("relocations", [])
    vector_starts = {}
    for vector in sorted({number for _, number in relocations}):
        vector_starts[vector] = _aligned(position + 4) - 4
        position = vector_starts[vector] + pooled[vector][1]
    position = _aligned(position)
    sizes = [data[buffer][1] for buffer in used] + [made_size(recipe) for recipe in made]
    data_starts = []
    for size in sizes:
        data_starts.append(position)
        position = _aligned(position + size)

    def place(position, region_number):
        """Where an object at `position` of the shared file lands in the cut-out."""
        return starts[region_number] + position - regions[region_number][0]

    head = bytearray(starts[0])
    _put(head, 0, (table,), "I")
    head[4:8] = b"TFL3"
    _put(head, 8, _MODEL_VTABLE, "H")
    _put(head, table, (table - 8, MODEL_VERSION), "I")
    targets = np.full(len(data) + len(made), empty, np.int64)
    targets[used + list(range(len(data), len(data) + len(made)))] = first + 24 * np.arange(count)
    fields = [[place(t, 0) for t in codes], [place(signature["subgraph"], 2)], targets,
              [place(t, 1) for t in metadata], [place(signature["signature_def"][2], 3)]]
    for field, objects in enumerate(fields):
        _put(head, table + 8 + 4 * field, (vectors - (table + 8 + 4 * field),), "I")
        slots = vectors + 4 + 4 * np.arange(len(objects))
        head[vectors:vectors + 4 + 4 * len(objects)] = np.concatenate(
            [[len(objects)], np.asarray(objects, np.int64) - slots]).astype("<u4").tobytes()
        vectors += 4 + 4 * len(objects)
    _put(head, buffers, _EMPTY_BUFFER_VTABLE, "H")
    _put(head, empty, (empty - buffers,), "i")
    _put(head, empty + 4, _BUFFER_VTABLE, "H")
    tables = np.zeros((count, 3), "<i8")  # soffset (+ padding), offset, size
    tables[:, 0] = first + 24 * np.arange(count) - (empty + 4)
    tables[:, 1] = data_starts
    tables[:, 2] = sizes
    head[first:first + 24 * count] = tables.tobytes()
    definition = bytearray(content[slice(*regions[3])])
    if signature["signature_def"][3]:  # its subgraph index field: the cut-out has subgraph 0
        _put(definition, signature["signature_def"][3] - regions[3][0], (0,), "I")
    graph = bytearray(content[slice(*regions[2])])
    for slot, vector in relocations:
        _put(graph, slot - regions[2][0], (vector_starts[vector] - place(slot, 2),), "I")
    view = memoryview(content)
    pieces = [(starts[i], {2: graph, 3: definition}.get(i, view[slice(*region)]))
              for i, region in enumerate(regions)]
    pieces += [(at, view[pooled[v][0]:pooled[v][0] + pooled[v][1]])
               for v, at in vector_starts.items()]
    pieces += [(at, view[data[b][0]:data[b][0] + data[b][1]]) for at, b in zip(data_starts, used)]
    pieces += [(at, memoryview(make(content, data, recipe)).cast("B"))
               for at, recipe in zip(data_starts[len(used):], made)]
    parts, length = [bytes(head)], len(head)
    for at, piece in pieces:
        parts += [bytes(at - length), piece]
        length = at + len(piece)
    return b"".join(parts + [bytes(position - length)])
