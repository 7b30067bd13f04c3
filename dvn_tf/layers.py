"""Sliced primitives: every layer runs on the channel set of a (task, level).

`task` (0-based) and `level` (1-based) are keyword ints of `call`, so each
(task, level) traces its own static graph. Each layer can also `apply_plain`:
build the ordinary Keras layer that holds exactly that level's weights, for
export and for honest parameter counts.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from dvn_tf.units import UnitPlan


def as_plan(plan):
    """A UnitPlan from a UnitPlan or its config dict."""
    return plan if isinstance(plan, UnitPlan) else UnitPlan(**plan)


def take_channels(tensor, indices, axis):
    """`tensor` restricted to `indices` (sorted) along `axis`; a slice when they are contiguous."""
    size = tensor.shape[axis]
    if len(indices) == size:
        return tensor
    start = indices[0]
    if indices[-1] - start + 1 == len(indices):
        begin = [0] * len(tensor.shape)
        begin[axis] = start
        shape = list(tensor.shape)
        shape[axis] = len(indices)
        return ops.slice(tensor, begin, shape)
    return ops.take(tensor, np.asarray(indices, dtype="int32"), axis=axis)


def _check_positive_int(layer, **values):
    for name, value in values.items():
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")


class _PlanLayer(keras.layers.Layer):
    """Base of the sliced layers: holds the unit plan and serializes it."""

    def __init__(self, plan, **kwargs):
        super().__init__(**kwargs)
        self.plan = as_plan(plan)

    def get_config(self):
        return {**super().get_config(), "plan": self.plan.get_config()}


@keras.saving.register_keras_serializable(package="dvn")
class SlicedConv2D(_PlanLayer):
    """A bias-free 'same' conv that runs with `kernel[:, :, S_in, S_out]` of a (task, level).

    Args:
      filters: full output width.
      kernel_size: square kernel size.
      plan: the UnitPlan (or its config).
      strides: square stride.
      input_width: full width of the layer feeding it; None for a stem that
        reads every input channel.
    """

    def __init__(self, filters, kernel_size, plan, strides=1, input_width=None,
                 kernel_initializer="he_normal", **kwargs):
        super().__init__(plan, **kwargs)
        _check_positive_int(type(self).__name__, filters=filters,
                            kernel_size=kernel_size, strides=strides)
        if input_width is not None:
            _check_positive_int(type(self).__name__, input_width=input_width)
        if filters < self.plan.units or (input_width or self.plan.units) < self.plan.units:
            raise ValueError(
                f"SlicedConv2D: widths must be >= units={self.plan.units}, got "
                f"filters={filters}, input_width={input_width}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.input_width = input_width
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        in_channels = self.input_width or input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.kernel_size, self.kernel_size, in_channels, self.filters),
            initializer=self.kernel_initializer)

    def input_channels(self, task, level):
        """Input channel indices of (task, level); all of them for a stem."""
        if self.input_width is None:
            return tuple(range(self.kernel.shape[2]))
        return self.plan.channels(self.input_width, task, level)

    def sliced_kernel(self, task, level):
        """The kernel restricted to (task, level)'s input and output channels."""
        kernel = take_channels(self.kernel, self.input_channels(task, level), axis=2)
        return take_channels(kernel, self.plan.channels(self.filters, task, level), axis=3)

    def call(self, inputs, *, task, level):
        kernel = self.sliced_kernel(task, level)
        if self.kernel_size == 1 and self.strides > 1:
            # A strided 1x1 'same' conv reads pixels (s*i, s*j): subsampling first gives the same
            # output and avoids a crash in oneDNN's strided 1x1 filter gradient on CPU for 64 px
            # and larger inputs (TF 2.21).
            inputs = inputs[:, ::self.strides, ::self.strides, :]
            return ops.conv(inputs, kernel, strides=1, padding="same")
        return ops.conv(inputs, kernel, strides=self.strides, padding="same")

    def apply_plain(self, inputs, task, level):
        """Apply a plain Conv2D holding (task, level)'s kernel to a functional tensor."""
        kernel = ops.convert_to_numpy(self.sliced_kernel(task, level))
        conv = keras.layers.Conv2D(kernel.shape[-1], self.kernel_size, strides=self.strides,
                                   padding="same", use_bias=False, name=self.name)
        outputs = conv(inputs)
        conv.set_weights([kernel])
        return outputs

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "input_width": self.input_width,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)}


@keras.saving.register_keras_serializable(package="dvn")
class SlicedDepthwiseConv2D(_PlanLayer):
    """A bias-free 'same' depthwise conv that runs with `kernel[:, :, S]` of a (task, level).

    A depthwise kernel has no cross-channel part: a level's kernel is its own
    channels' filters, so every weight belongs to exactly one unit.

    Args:
      width: channels in and out (depth multiplier 1).
      kernel_size: square kernel size.
      plan: the UnitPlan (or its config).
      strides: square stride.
      kernel_initializer: None for He normal over the true fan-in of a
        depthwise filter (kernel_size ** 2, not kernel_size ** 2 x width).
    """

    def __init__(self, width, kernel_size, plan, strides=1, kernel_initializer=None, **kwargs):
        super().__init__(plan, **kwargs)
        _check_positive_int(type(self).__name__, width=width, kernel_size=kernel_size,
                            strides=strides)
        if width < self.plan.units:
            raise ValueError(f"SlicedDepthwiseConv2D: width must be >= units={self.plan.units}, "
                             f"got width={width}")
        self.width = width
        self.kernel_size = kernel_size
        self.strides = strides
        self.kernel_initializer = (None if kernel_initializer is None
                                   else keras.initializers.get(kernel_initializer))

    def build(self, input_shape):
        # Keras computes fan-in as kernel_size ** 2 x width for this shape: scale it back.
        he_normal = keras.initializers.VarianceScaling(2.0 * self.width, "fan_in",
                                                       "truncated_normal")
        self.kernel = self.add_weight(
            name="kernel", shape=(self.kernel_size, self.kernel_size, self.width, 1),
            initializer=self.kernel_initializer or he_normal)

    def sliced_kernel(self, task, level):
        """The kernel restricted to (task, level)'s channels."""
        return take_channels(self.kernel, self.plan.channels(self.width, task, level), axis=2)

    def call(self, inputs, *, task, level):
        return ops.depthwise_conv(inputs, self.sliced_kernel(task, level), strides=self.strides,
                                  padding="same")

    def apply_plain(self, inputs, task, level):
        """Apply a plain DepthwiseConv2D holding (task, level)'s kernel to a functional tensor."""
        kernel = ops.convert_to_numpy(self.sliced_kernel(task, level))
        conv = keras.layers.DepthwiseConv2D(self.kernel_size, strides=self.strides,
                                            padding="same", use_bias=False, name=self.name)
        outputs = conv(inputs)
        conv.set_weights([kernel])
        return outputs

    def get_config(self):
        initializer = self.kernel_initializer
        return {**super().get_config(), "width": self.width, "kernel_size": self.kernel_size,
                "strides": self.strides,
                "kernel_initializer": initializer and keras.initializers.serialize(initializer)}


class BatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose batch statistics are synchronized across replicas when there are
    several, and computed locally (as the same numbers, with about 40 fewer ops per layer in a
    traced train step) under a single replica.

    It keeps Keras's class name: a .keras file addresses each layer of a list by its
    class name, so runs saved with Keras's own BatchNormalization still load.
    """

    def _moments(self, inputs, mask):
        if mask is None and tf.distribute.get_strategy().num_replicas_in_sync == 1:
            return ops.moments(inputs, axes=self._reduction_axes)
        return super()._moments(inputs, mask)


@keras.saving.register_keras_serializable(package="dvn")
class SwitchableBatchNorm(_PlanLayer):
    """Batch norm with private statistics and affine parameters per (task, level).

    Statistics are synchronized across replicas under tf.distribute, so a
    distributed step equals a single-device step on the whole batch.
    """

    def __init__(self, width, plan, momentum=0.9, epsilon=1e-5, **kwargs):
        super().__init__(plan, **kwargs)
        _check_positive_int(type(self).__name__, width=width)
        if not 0.0 <= momentum < 1.0 or epsilon <= 0:
            raise ValueError(
                f"SwitchableBatchNorm: need 0 <= momentum < 1 and epsilon > 0, got "
                f"momentum={momentum}, epsilon={epsilon}")
        self.width = width
        self.momentum = momentum
        self.epsilon = epsilon
        self.norms = [
            BatchNormalization(momentum=momentum, epsilon=epsilon, synchronized=True,
                               name=f"bn_t{task}_l{level}")
            for task in range(self.plan.num_tasks)
            for level in range(1, self.plan.units + 1)]

    def norm(self, task, level):
        """The BatchNormalization layer private to (task, level)."""
        self.plan.check(task, level)
        return self.norms[task * self.plan.units + level - 1]

    def build(self, input_shape):
        for task in range(self.plan.num_tasks):
            for level in range(1, self.plan.units + 1):
                channels = len(self.plan.channels(self.width, task, level))
                self.norm(task, level).build(tuple(input_shape[:-1]) + (channels,))

    def call(self, inputs, *, task, level, training=False):
        return self.norm(task, level)(inputs, training=training)

    def apply_plain(self, inputs, task, level):
        """Apply a plain BatchNormalization holding (task, level)'s parameters."""
        source = self.norm(task, level)
        norm = keras.layers.BatchNormalization(momentum=self.momentum, epsilon=self.epsilon,
                                               name=self.name)
        outputs = norm(inputs)
        norm.set_weights(source.get_weights())
        return outputs

    def get_config(self):
        return {**super().get_config(), "width": self.width,
                "momentum": self.momentum, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="dvn")
class TaskHead(_PlanLayer):
    """A task's classifier; its input rows are the level's channels of the last layer.

    With `per_level=True` every level has a head of its own instead of a slice
    of one shared head.
    """

    def __init__(self, num_classes, input_width, plan, task, per_level=False, **kwargs):
        super().__init__(plan, **kwargs)
        _check_positive_int(type(self).__name__, num_classes=num_classes,
                            input_width=input_width)
        self.plan.check(task, 1)
        self.num_classes = num_classes
        self.input_width = input_width
        self.task = task
        self.per_level = per_level

    def build(self, input_shape):
        levels = range(1, self.plan.units + 1) if self.per_level else [self.plan.units]
        self.kernels, self.biases = [], []
        for level in levels:
            rows = len(self.plan.channels(self.input_width, self.task, level))
            self.kernels.append(self.add_weight(
                name=f"kernel_l{level}", shape=(rows, self.num_classes),
                initializer="glorot_uniform"))
            self.biases.append(self.add_weight(
                name=f"bias_l{level}", shape=(self.num_classes,), initializer="zeros"))

    def weights_for(self, level):
        """(kernel, bias) that the given level uses."""
        self.plan.check(self.task, level)
        if self.per_level:
            return self.kernels[level - 1], self.biases[level - 1]
        rows = self.plan.channels(self.input_width, self.task, level)
        return take_channels(self.kernels[0], rows, axis=0), self.biases[0]

    def call(self, inputs, *, level):
        kernel, bias = self.weights_for(level)
        return ops.matmul(inputs, kernel) + bias

    def apply_plain(self, inputs, level):
        """Apply a plain Dense holding the level's head to a functional tensor."""
        kernel, bias = (ops.convert_to_numpy(w) for w in self.weights_for(level))
        dense = keras.layers.Dense(self.num_classes, name=self.name)
        outputs = dense(inputs)
        dense.set_weights([kernel, bias])
        return outputs

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "input_width": self.input_width, "task": self.task,
                "per_level": self.per_level}
