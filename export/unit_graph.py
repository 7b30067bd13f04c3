"""Rebuild a (task, level)'s plain model on unit blocks, so that every (task, level) shares weights.

`DVNModel.to_plain(task, level)` gives a functional model of ordinary layers
holding that level's gathered weights. Here its graph is run again with every
tensor held as `Parts`: the level's units grouped into runs of consecutive
unit ids (nearest orders give one run; a level like units {1, 3} has two),
and every layer replaced by its unit form:

  Conv2D          for each input unit u and output run r, one conv with the
                  kernel rows of u and columns of r, summed over u. In
                  LiteRT's [out, H, W, in] filter layout the columns of a run
                  are consecutive bytes of the columns of all units, so
                  export/relayout.py stores every unit's full row once and each
                  level's kernel as a window into it: a level of l units runs
                  l convs, not l * l (XNNPACK keeps an indirection buffer per
                  conv, which made l * l block convs cost 30% more memory at k = 4).
                  A stem (reads the image) has one conv per output run.
  BatchNorm       per (task, level), so not shared: its inference affine
                  (scale, offset) per run, as a 1x1 DepthwiseConv2D with bias.
                  As a Mul and an Add right after a conv, the converter folds it
                  into the conv's kernel, which makes a private copy of a shared
                  kernel; a depthwise conv it does not fold. A level's cut-out
                  folds it and merges a layer's l convs into one
                  (export/served.py), as the per-level file has them.
  DepthwiseConv2D (MobileNetV2) no cross-unit blocks: one depthwise conv per
                  unit, the units of a run concatenated; each unit's channels
                  of the kernel are stored once (exact sharing). A cut-out
                  merges them back into one and folds the batch norm after it.
  Dense (head)    per task: one bias-free block of rows per unit, summed (in
                  [out, in] layout a run's rows are not consecutive bytes); the
                  bias rides on the block of the task's first unit, which every
                  level of the task has.
  elementwise     (ReLU, Activation, Dropout, Add, GlobalAveragePooling2D) per run.

The layers are kept in a `BlockStore` shared by every (task, level), so a
block is one variable however many levels call it. A new sliced layer kind
needs one case in `UnitGraph._layer`; a layer it has none for raises
LayoutError (the export CLI prints it in one line).
"""

import keras
import numpy as np
from keras import ops

from dvn_tf.layers import SlicedConv2D, SlicedDepthwiseConv2D, TaskHead


class LayoutError(ValueError):
    """A DVN that the shared layout cannot build on unit blocks (a layer kind it does not split)."""


# DVN layers whose weights the levels share
SHARED_KINDS = (SlicedConv2D, SlicedDepthwiseConv2D, TaskHead)
ELEMENTWISE = (keras.layers.ReLU, keras.layers.Activation, keras.layers.Dropout,
               keras.layers.GlobalAveragePooling2D)


def unit_runs(units):
    """Sorted unit ids as runs of consecutive ids: [1, 2, 4] -> [(1, 2), (4,)]."""
    runs = []
    for unit in sorted(units):
        if runs and runs[-1][-1] == unit - 1:
            runs[-1] = (*runs[-1], unit)
        else:
            runs.append((unit,))
    return runs


class Parts:
    """A level's tensor as {run of units: tensor of those units' channels}, runs ascending.

    The level's channels are its units' channel groups in ascending unit
    order. The image fed to a stem is one part whose run is None.
    """

    def __init__(self, parts):
        self.parts = dict(sorted(parts.items(), key=lambda item: item[0] or (0,)))

    def map(self, function):
        """Parts of function(tensor) for every part."""
        return Parts({run: function(tensor) for run, tensor in self.parts.items()})

    def positions(self):
        """{run: its channel indices in the whole level tensor}."""
        positions, start = {}, 0
        for run, tensor in self.parts.items():
            positions[run] = np.arange(start, start + tensor.shape[-1])
            start += tensor.shape[-1]
        return positions


class BlockStore:
    """The block layers of a DVN, made on first use and reused by every (task, level)."""

    def __init__(self, dvn):
        self.layers = {}
        self.by_name = {}
        for layer in dvn._flatten_layers(include_self=False):
            if not isinstance(layer, SHARED_KINDS):
                continue
            if layer.name in self.by_name:
                raise LayoutError(f"the DVN has two layers named {layer.name!r}; the shared "
                                 "layout maps plain layers to DVN layers by name")
            self.by_name[layer.name] = layer

    def apply(self, key, make, weights, tensor):
        """Call the layer stored under `key` (make() with `weights`, on first use) on tensor."""
        if key not in self.layers:
            self.layers[key] = [make(), weights]
        entry = self.layers[key]
        output = entry[0](tensor)
        if entry[1] is not None:  # a layer gets its weights once built by its first call
            entry[0].set_weights(entry[1])
            entry[1] = None
        return output

    def conv(self, plain, x, task, level):
        """out[r] = sum over input units u of conv(in[u], kernel[u rows, r columns])."""
        sliced = self.by_name.get(plain.name)
        if not isinstance(sliced, SlicedConv2D):
            raise LayoutError(f"plain conv {plain.name!r} has no SlicedConv2D in the DVN")
        plan = sliced.plan
        columns = plan.unit_channels(sliced.filters)
        rows = (plan.unit_channels(sliced.input_width) if sliced.input_width else
                {None: tuple(range(sliced.kernel.shape[2]))})
        kernel = ops.convert_to_numpy(sliced.kernel)
        inputs = _units(x, rows)
        result = {}
        for run in unit_runs(plan.level_units(task, level)):
            out = [c for unit in run for c in columns[unit]]
            terms = [self.apply(
                (sliced.name, unit, run),
                lambda unit=unit: keras.layers.Conv2D(
                    len(out), plain.kernel_size, strides=plain.strides, padding=plain.padding,
                    use_bias=False, name=f"{sliced.name}_u{unit or 0}_r{'_'.join(map(str, run))}"),
                [kernel[:, :, list(rows[unit])][:, :, :, out]], piece)
                for unit, piece in inputs]
            result[run] = terms[0] if len(terms) == 1 else keras.layers.Add()(terms)
        return Parts(result)

    def depthwise(self, plain, x, task, level):
        """out[r] = run r's units side by side, each depthwise conv(in[u], kernel[u's channels])."""
        sliced = self.by_name.get(plain.name)
        if not isinstance(sliced, SlicedDepthwiseConv2D):
            raise LayoutError(f"plain depthwise conv {plain.name!r} has no SlicedDepthwiseConv2D "
                             "in the DVN")
        channels = sliced.plan.unit_channels(sliced.width)
        kernel = ops.convert_to_numpy(sliced.kernel)
        outputs = {unit: self.apply(
            (sliced.name, unit),
            lambda unit=unit: keras.layers.DepthwiseConv2D(
                plain.kernel_size, strides=plain.strides, padding=plain.padding, use_bias=False,
                name=f"{sliced.name}_u{unit}"),
            [kernel[:, :, list(channels[unit])]], piece) for unit, piece in _units(x, channels)}
        return Parts({run: outputs[run[0]] if len(run) == 1 else
                      keras.layers.Concatenate()([outputs[unit] for unit in run])
                      for run in x.parts})

    def head(self, plain, x, task, level):
        """The task head as one row block per unit, summed; the bias on the task's first unit."""
        head = self.by_name.get(plain.name)
        if not isinstance(head, TaskHead):
            raise LayoutError(f"plain dense {plain.name!r} has no TaskHead in the DVN")
        kernel_level = level if head.per_level else head.plan.units
        kernel, bias = (ops.convert_to_numpy(w) for w in head.weights_for(kernel_level))
        rows = head.plan.channels(head.input_width, task, kernel_level)
        groups = head.plan.unit_channels(head.input_width)
        first = head.plan.orders[task][0]
        terms = []
        for unit, piece in _units(x, groups):
            block = kernel[[rows.index(c) for c in groups[unit]]]
            terms.append(self.apply(
                (head.name, kernel_level if head.per_level else None, unit),
                lambda unit=unit: keras.layers.Dense(
                    plain.units, use_bias=unit == first, name=f"{head.name}_l{kernel_level}_u{unit}"),
                [block, bias] if unit == first else [block], piece))
        return terms[0] if len(terms) == 1 else keras.layers.Add()(terms)


def _units(x, groups):
    """[(unit, tensor of its channels)] of Parts, each run sliced into its units.

    `groups` maps each unit to its channels in the full layer.
    """
    pieces = []
    for run, tensor in x.parts.items():
        if run is None or len(run) == 1:
            pieces.append((run and run[0], tensor))
            continue
        start = 0
        for unit in run:
            pieces.append((unit, tensor[..., start:start + len(groups[unit])]))
            start += len(groups[unit])
    return pieces


def _norm(plain, x):
    """A (task, level)'s batch norm per part: scale and offset as a 1x1 depthwise conv with bias."""
    gamma, beta, mean, variance = plain.get_weights()
    scale = gamma / np.sqrt(variance + plain.epsilon)
    offset = beta - mean * scale
    positions = x.positions()

    def affine(run, tensor):
        layer = keras.layers.DepthwiseConv2D(1, use_bias=True)
        output = layer(tensor)
        layer.set_weights([scale[positions[run]].reshape(1, 1, -1, 1), offset[positions[run]]])
        return output
    return Parts({run: affine(run, tensor) for run, tensor in x.parts.items()})


class UnitGraph:
    """Builds every (task, level) of a DVN as a functional model on one BlockStore."""

    def __init__(self, dvn):
        self.dvn = dvn
        self.store = BlockStore(dvn)

    def level_model(self, plain, task, level, batch=None):
        """(task, level)'s plain model (to_plain) on shared blocks, as a functional model."""
        inputs = keras.Input(tuple(plain.input_shape[1:]), batch_size=batch, name="image")

        def unit_form(layer):
            return lambda *args, **kwargs: self._layer(layer, task, level, *args)

        outputs = plain._run_through_graph([Parts({None: inputs})], operation_fn=unit_form)
        return keras.Model(inputs, outputs, name=plain.name)

    def _layer(self, layer, task, level, x):
        if type(layer) is keras.layers.Conv2D:
            return self.store.conv(layer, x, task, level)
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            return self.store.depthwise(layer, x, task, level)
        if isinstance(layer, keras.layers.BatchNormalization):
            return _norm(layer, x)
        if isinstance(layer, keras.layers.Dense):
            return self.store.head(layer, x, task, level)
        if isinstance(layer, keras.layers.Add):
            runs = x[0].parts.keys()
            if any(part.parts.keys() != runs for part in x):
                raise LayoutError(f"{layer.name}: adding tensors of different units")
            return Parts({r: keras.layers.Add()([part.parts[r] for part in x]) for r in runs})
        if isinstance(layer, ELEMENTWISE):
            return x.map(layer)
        raise LayoutError(f"the shared layout cannot split a {type(layer).__name__} "
                          f"({layer.name!r}) into unit blocks; export with --layout=per-level "
                          "(or add its case to export/unit_graph.py)")
