"""Pre-activation wide ResNet WRN-n-s (Zagoruyko and Komodakis, 2016) of sliced layers."""

import keras
from keras import ops

from dvn_tf.backbones.resnet import residual_stages
from dvn_tf.backbones.stage import Stage


@keras.saving.register_keras_serializable(package="dvn")
class FinalActivation(Stage):
    """WRN's closing BN-ReLU after the last pre-activation block."""

    def __init__(self, width, plan, bn_momentum=0.9, **kwargs):
        super().__init__(plan, **kwargs)
        self.width, self.bn_momentum = width, bn_momentum
        self.norm = self._norm(width)

    def build(self, input_shape):
        self.norm.build(input_shape)

    def call(self, x, *, task, level, training=False):
        return ops.relu(self.norm(x, task=task, level=level, training=training))

    def apply_plain(self, x, task, level):
        return keras.layers.ReLU()(self.norm.apply_plain(x, task, level))

    def get_config(self):
        return {**super().get_config(), "width": self.width, "bn_momentum": self.bn_momentum}


def build_wrn(depth, widen, plan, base_width=16, dropout=0.0, bn_momentum=0.9):
    """WRN-`depth`-`widen` (depth 6m + 4): a stem conv, three stages of m pre-activation blocks
    of width base_width * widen * (1, 2, 4), and a closing BN-ReLU; returns (stages, width)."""
    stages, width = residual_stages(depth, plan, base_width, widen, preactivation=True,
                                    dropout=dropout, bn_momentum=bn_momentum)
    return stages + [FinalActivation(width, plan, bn_momentum=bn_momentum)], width
