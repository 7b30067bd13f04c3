"""Rebuild a (task, level)'s plain model on unit blocks, so that every (task, level) shares weights.

`DVNModel.to_plain(task, level)` gives a functional model of ordinary layers
holding that level's gathered weights. Here its graph is run again with every
tensor split into its units (a `UnitSplit`: unit id -> the tensor of that
unit's channels), and every layer replaced by its unit form:

  Conv2D          one conv per (input unit, output unit) block of the DVN's
                  kernel, summed per output unit. The block layers belong to a
                  `BlockStore` shared by every (task, level), so a block is one
                  variable however many levels use it. A stem (reads the image)
                  has one block per output unit.
  BatchNorm       per (task, level), so not shared: its inference affine
                  (scale, offset) per unit, as a 1x1 DepthwiseConv2D with bias.
                  As a Mul and an Add right after a conv, the converter folds it
                  into the conv's kernel, which makes a private copy of a shared
                  block; a depthwise conv it does not fold.
  Dense (head)    per task: one bias-free row block per unit, summed; the bias
                  rides on the block of the task's first unit, which every level
                  of the task has.
  elementwise     (ReLU, Activation, Dropout, Add, GlobalAveragePooling2D) per unit.

A new sliced layer kind needs one case in `UnitGraph._layer`: a depthwise
conv's kernel has no cross-unit blocks, so its blocks are the (unit, unit)
diagonal and its sharing is exact.
"""

import keras
import numpy as np

from dvn_tf.layers import SlicedConv2D, TaskHead

ELEMENTWISE = (keras.layers.ReLU, keras.layers.Activation, keras.layers.Dropout,
               keras.layers.GlobalAveragePooling2D)


SHARED_KINDS = (SlicedConv2D, TaskHead)  # DVN layers whose weights the levels share


class UnitSplit:
    """A level's tensor as {unit id: tensor of that unit's channels}, units ascending.

    The level's channels are its units' channel groups in ascending unit order,
    so unit u's channels sit at `positions()[u]` of the whole tensor. The image
    fed to a stem is one part with unit None.
    """

    def __init__(self, parts):
        self.parts = dict(sorted(parts.items(), key=lambda item: -1 if item[0] is None else item[0]))

    def map(self, function):
        """A UnitSplit of function(tensor) for every unit."""
        return UnitSplit({unit: function(tensor) for unit, tensor in self.parts.items()})

    def positions(self):
        """{unit: its channel indices in the whole level tensor}."""
        positions, start = {}, 0
        for unit, tensor in self.parts.items():
            width = tensor.shape[-1]
            positions[unit] = np.arange(start, start + width)
            start += width
        return positions


class BlockStore:
    """The shared block layers of a DVN, made on first use and reused by every (task, level)."""

    def __init__(self, dvn):
        self.dvn = dvn
        self.layers = {}
        by_name = {}
        for layer in dvn._flatten_layers(include_self=False):
            if not isinstance(layer, SHARED_KINDS):
                continue
            if layer.name in by_name:
                raise ValueError(f"the DVN has two layers named {layer.name!r}; the shared "
                                 "layout maps plain layers to DVN layers by name")
            by_name[layer.name] = layer
        self.by_name = by_name

    def block(self, key, make, weights):
        """The layer stored under `key`: make() with `weights`, built on its first call."""
        if key not in self.layers:
            self.layers[key] = [make(), weights]
        return self.layers[key]

    def apply(self, key, make, weights, tensor):
        """Call the block layer stored under `key` on tensor (setting its weights once built)."""
        entry = self.block(key, make, weights)
        layer = entry[0]
        output = layer(tensor)
        if entry[1] is not None:
            layer.set_weights(entry[1])
            entry[1] = None
        return output

    def conv(self, plain, split, task, level):
        """Conv2D on unit blocks: out[v] = sum over input units u of conv(in[u], kernel[u, v])."""
        sliced = self.by_name[plain.name]
        if not isinstance(sliced, SlicedConv2D):
            raise ValueError(f"plain conv {plain.name!r} has no SlicedConv2D in the DVN")
        plan = sliced.plan
        outputs = plan.unit_channels(sliced.filters)
        inputs = (plan.unit_channels(sliced.input_width) if sliced.input_width else
                  {None: tuple(range(sliced.kernel.shape[2]))})
        kernel = keras.ops.convert_to_numpy(sliced.kernel)
        result = {}
        for v in sorted(plan.level_units(task, level)):
            terms = []
            for u, x in split.parts.items():
                block = kernel[:, :, list(inputs[u])][:, :, :, list(outputs[v])]
                terms.append(self.apply(
                    (sliced.name, u, v),
                    lambda: keras.layers.Conv2D(
                        block.shape[-1], plain.kernel_size, strides=plain.strides,
                        padding=plain.padding, use_bias=False,
                        name=f"{sliced.name}_u{u or 0}_v{v}"),
                    [block], x))
            result[v] = terms[0] if len(terms) == 1 else keras.layers.Add()(terms)
        return UnitSplit(result)

    def head(self, plain, split, task, level):
        """The task head as one row block per unit, summed; the bias on the task's first unit."""
        head = self.by_name[plain.name]
        if not isinstance(head, TaskHead):
            raise ValueError(f"plain dense {plain.name!r} has no TaskHead in the DVN")
        kernel_level = level if head.per_level else head.plan.units
        kernel, bias = (keras.ops.convert_to_numpy(w) for w in head.weights_for(kernel_level))
        rows = head.plan.channels(head.input_width, task, kernel_level)
        groups = head.plan.unit_channels(head.input_width)
        first = head.plan.orders[task][0]
        terms = []
        for u, x in split.parts.items():
            block = kernel[[rows.index(c) for c in groups[u]]]
            weights = [block, bias] if u == first else [block]
            terms.append(self.apply(
                (head.name, kernel_level if head.per_level else None, u),
                lambda: keras.layers.Dense(plain.units, use_bias=u == first,
                                           name=f"{head.name}_l{kernel_level}_u{u}"),
                weights, x))
        return terms[0] if len(terms) == 1 else keras.layers.Add()(terms)


def _norm(plain, split):
    """A (task, level)'s batch norm per unit: scale and offset as a 1x1 depthwise conv with bias."""
    gamma, beta, mean, variance = plain.get_weights()
    scale = gamma / np.sqrt(variance + plain.epsilon)
    offset = beta - mean * scale
    positions = split.positions()

    def affine(unit, tensor):
        layer = keras.layers.DepthwiseConv2D(1, use_bias=True)
        output = layer(tensor)
        layer.set_weights([scale[positions[unit]].reshape(1, 1, -1, 1),
                           offset[positions[unit]]])
        return output
    return UnitSplit({unit: affine(unit, tensor) for unit, tensor in split.parts.items()})


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

        outputs = plain._run_through_graph([UnitSplit({None: inputs})], operation_fn=unit_form)
        return keras.Model(inputs, outputs, name=plain.name)

    def _layer(self, layer, task, level, x):
        if isinstance(layer, keras.layers.Conv2D) and type(layer) is keras.layers.Conv2D:
            return self.store.conv(layer, x, task, level)
        if isinstance(layer, keras.layers.BatchNormalization):
            return _norm(layer, x)
        if isinstance(layer, keras.layers.Dense):
            return self.store.head(layer, x, task, level)
        if isinstance(layer, keras.layers.Add):
            units = x[0].parts.keys()
            if any(part.parts.keys() != units for part in x):
                raise ValueError(f"{layer.name}: adding tensors of different units")
            return UnitSplit({u: keras.layers.Add()([part.parts[u] for part in x]) for u in units})
        if isinstance(layer, ELEMENTWISE):
            return x.map(layer)
        raise ValueError(f"the shared layout cannot split a {type(layer).__name__} "
                         f"({layer.name!r}) into unit blocks; add its case to export/unit_graph.py")
