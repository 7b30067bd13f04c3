"""The base of every backbone's stages: a sliced sub-network with a plain twin per (task, level).

A stage has `call(x, *, task, level, training)` and `apply_plain(x, task,
level)`. It creates its sublayers in `__init__` and builds them in `build()`,
as Keras asks of a composite layer, so every weight exists before the first
call (keras.src.testing.TestCase.run_layer_test checks this).
"""

from dvn_tf.layers import SlicedConv2D, SlicedDepthwiseConv2D, SwitchableBatchNorm, _PlanLayer


def with_width(shape, width):
    """`shape` with its channel (last) dimension set to `width`."""
    return tuple(shape[:-1]) + (width,)


def strided(shape, strides):
    """The shape of a 'same' convolution's output with `strides` on an input of `shape`."""
    return (shape[0], *(None if d is None else -(-d // strides) for d in shape[1:-1]), shape[-1])


class Stage(_PlanLayer):
    """A sliced sub-network; subclasses set `bn_momentum` (and may set `bn_epsilon`)."""

    bn_epsilon = 1e-5

    def _conv(self, filters, kernel_size, strides, input_width):
        return SlicedConv2D(filters, kernel_size, self.plan, strides=strides,
                            input_width=input_width)

    def _depthwise(self, width, kernel_size, strides):
        return SlicedDepthwiseConv2D(width, kernel_size, self.plan, strides=strides)

    def _norm(self, width):
        return SwitchableBatchNorm(width, self.plan, momentum=self.bn_momentum,
                                   epsilon=self.bn_epsilon)
