"""Cut one signature out of a shared-layout .tflite: a standalone model of only that level.

The shared file of `python -m export --layout=shared` holds every (task, level)
as a signature, each weight stored once. Loading it whole would make XNNPACK
pack the weights of every signature; serving a level from a cut-out costs what
that level's own file costs. The cut-out needs no TensorFlow and no flatbuffers
object API: export/relayout.py writes the file so that everything one
signature needs sits in self-contained byte regions, listed in an index (JSON
in the file's metadata entry `dvn_cutout`). A cut-out copies those regions
and writes a new model table in front of them, so it costs about one copy of
the level's weights.

The cut-out, front to back (every region starts 16-aligned, zero padding):
  root offset, "TFL3", the model's vtable and table (version, operator codes,
  subgraphs, buffers, metadata, signature defs) and their vectors;
  the operator-codes region; the metadata region (the converter's entries,
  without the index); buffer 0 (empty; every buffer the signature does not
  use points to it, so buffer numbers stay those of the shared file); the
  used buffers in ascending number; the signature's subgraph region; its
  signature-def region, whose subgraph index is set to 0.
Index positions count bytes from the end of the shared file, and regions
are [start, end) in those terms (start > end). The Android demo's Java
cut-out (SharedModelFile.java) follows the same steps and gives the same bytes.
"""

import json
import mmap
import struct

import numpy as np
from ai_edge_litert import schema_py_generated as schema

INDEX_NAME = b"dvn_cutout"
INDEX_VERSION = 1
ALIGN = 16
MODEL_VERSION = 3
# Model table fields of LiteRT's schema.fbs, in vtable order; 0 marks a field left out.
_MODEL_VTABLE = (20, 28, 4, 8, 12, 0, 16, 0, 20, 24)


class CutoutError(ValueError):
    """A shared file has no usable cut-out index, or no such signature."""


def _aligned(position):
    return -(-position // ALIGN) * ALIGN


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
        finally:
            if hasattr(mmap, "MADV_DONTNEED"):
                self._map.madvise(mmap.MADV_DONTNEED)


def read_index(content):
    """The cut-out index of a shared-layout file (bytes or mmap); CutoutError when it has none."""
    try:
        model = schema.Model.GetRootAs(content, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() == INDEX_NAME:
                data = model.Buffers(entry.Buffer()).DataAsNumpy()
                index = json.loads(bytes(data))
                break
        else:
            raise CutoutError("it has no cut-out index (metadata 'dvn_cutout'): it is not a "
                              "shared-layout file of `python -m export --layout=shared`")
    except (struct.error, IndexError, TypeError, ValueError, UnicodeDecodeError) as error:
        if isinstance(error, CutoutError):
            raise
        raise CutoutError(f"its cut-out index cannot be read ({error})") from None
    if index.get("version") != INDEX_VERSION:
        raise CutoutError(f"its cut-out index has version {index.get('version')!r}; this "
                          f"runtime reads version {INDEX_VERSION}")
    return index


def cut(content, index, signature):
    """The cut-out (bytes) of one signature entry of `index` from a shared file's bytes."""
    end = len(content)

    def span(region):
        return end - region[0], end - region[1]

    buffers = index["buffers"]
    used = sorted(set(signature["buffers"]) | set(index["metadata"]["buffers"]))
    regions = ([index["operator_codes"]["region"], index["metadata"]["region"], buffers[0][:2]]
               + [buffers[b][:2] for b in used]
               + [signature["region"], signature["signature_def"][:2]])
    sizes = [region[0] - region[1] for region in regions]
    vectors = (len(index["operator_codes"]["tables"]) + 1 + len(buffers)
               + len(index["metadata"]["tables"]) + 1)
    table = 8 + 2 * len(_MODEL_VTABLE)  # the model table follows the root, "TFL3" and its vtable
    header = _aligned(table + 28 + 4 * (5 + vectors))
    starts, position = [], header
    for size in sizes:
        starts.append(position)
        position = _aligned(position + size)

    def place(from_end, region_number):
        """Where an object at `from_end` in the shared file lands in the cut-out."""
        region = regions[region_number]
        return starts[region_number] + (region[0] - from_end)

    head = bytearray(header)
    struct.pack_into("<I4s", head, 0, table, b"TFL3")
    struct.pack_into(f"<{len(_MODEL_VTABLE)}H", head, 8, *_MODEL_VTABLE)
    struct.pack_into("<iI", head, table, table - 8, MODEL_VERSION)
    targets = [
        [place(t, 0) for t in index["operator_codes"]["tables"]],
        [place(signature["subgraph"], len(regions) - 2)],
        _buffer_targets(buffers, used, place),
        [place(t, 1) for t in index["metadata"]["tables"]],
        [place(signature["signature_def"][2], len(regions) - 1)],
    ]
    vector = table + 28
    for field, objects in enumerate(targets):
        struct.pack_into("<I", head, table + 8 + 4 * field, vector - (table + 8 + 4 * field))
        struct.pack_into("<I", head, vector, len(objects))
        slots = vector + 4 + 4 * np.arange(len(objects))
        head[vector + 4:vector + 4 + 4 * len(objects)] = (
            np.asarray(objects, np.int64) - slots).astype("<u4").tobytes()
        vector += 4 + 4 * len(objects)
    signature_def = bytearray(content[slice(*span(regions[-1]))])
    if signature["signature_def"][3]:  # its subgraph index field: the cut-out has subgraph 0
        field = regions[-1][0] - signature["signature_def"][3]
        struct.pack_into("<I", signature_def, field, 0)
    view = memoryview(content)
    parts, length = [bytes(head)], header
    for number, region in enumerate(regions):
        parts.append(bytes(starts[number] - length))
        parts.append(signature_def if number == len(regions) - 1
                     else view[slice(*span(region))])
        length = starts[number] + sizes[number]
    return b"".join(parts)


def _buffer_targets(buffers, used, place):
    """Where each buffer number's table lands: its own for the used ones, buffer 0's otherwise."""
    targets = np.full(len(buffers), place(buffers[0][2], 2), np.int64)
    for number, buffer in enumerate(used):
        targets[buffer] = place(buffers[buffer][2], 3 + number)
    return targets
