"""Backbones built from sliced layers, one module per family: ResNet, WRN and MobileNetV2.

A backbone is a list of stages (layers with `call(x, *, task, level,
training)` and `apply_plain(x, task, level)`) ending in a feature map whose
full width `feature_width` feeds the task heads. Names: 'resnet-N' (N = 6m+2),
'wrn-N-S' (N = 6m+4) and 'mobilenetv2'.
"""

import re

from dvn_tf.backbones import mobilenetv2
from dvn_tf.backbones.mobilenetv2 import ConvNormReLU6, InvertedResidual, build_mobilenetv2
from dvn_tf.backbones.resnet import ResidualBlock, Stem, build_resnet
from dvn_tf.backbones.wrn import FinalActivation, build_wrn

__all__ = ["ConvNormReLU6", "FinalActivation", "InvertedResidual", "ResidualBlock", "Stem",
           "build_stages", "channel_multiple", "parse_backbone"]


def parse_backbone(name):
    """('resnet', depth, 1) for 'resnet-20'; ('wrn', depth, widen) for 'wrn-16-4';
    ('mobilenetv2', 0, 1) for 'mobilenetv2'."""
    match = re.fullmatch(r"(resnet)-(\d+)|(wrn)-(\d+)-(\d+)|(mobilenetv2)", name.lower())
    if match and match.group(1) and (int(match.group(2)) - 2) % 6 == 0 and int(match.group(2)) > 2:
        return "resnet", int(match.group(2)), 1
    if match and match.group(3) and (int(match.group(4)) - 4) % 6 == 0 and int(match.group(4)) > 4:
        return "wrn", int(match.group(4)), int(match.group(5))
    if match and match.group(6):
        return "mobilenetv2", 0, 1
    raise ValueError(
        f"backbone must be 'resnet-N' with N = 6m+2 (8, 20, 32, 56, 110), "
        f"'wrn-N-S' with N = 6m+4 (10, 16, 28, 40) or 'mobilenetv2', got {name!r}")


def channel_multiple(backbone):
    """The block size, in channels, in which the backbone's layers are split into units.

    MobileNetV2 gives every unit a multiple of 8 channels where the width
    allows (XNNPACK's kernels favour it); ResNet and WRN split by channels.
    """
    return mobilenetv2.CHANNEL_MULTIPLE if parse_backbone(backbone)[0] == "mobilenetv2" else 1


def build_stages(backbone, plan, base_width=16, dropout=0.0, bn_momentum=0.9,
                 width_multiplier=1.0, depth_coefficient=1.0, input_size=32):
    """The stage layers of a backbone and the width of its last feature map.

    ResNet and WRN: the stem has base_width and the stages base_width * widen
    * (1, 2, 4); WRN uses dropout. MobileNetV2: Keras's widths at
    `width_multiplier`, its blocks at `depth_coefficient`, strides chosen for
    `input_size` px inputs.
    """
    family, depth, widen = parse_backbone(backbone)
    if family == "resnet":
        return build_resnet(depth, plan, base_width, bn_momentum)
    if family == "wrn":
        return build_wrn(depth, widen, plan, base_width, dropout, bn_momentum)
    return build_mobilenetv2(plan, width_multiplier, depth_coefficient, input_size, bn_momentum)
