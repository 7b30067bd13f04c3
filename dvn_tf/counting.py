"""Exact parameter and FLOP counts of a plain (materialized) Keras model."""

import keras


def count_flops(model):
    """FLOPs of one image: 2 x multiply-accumulates of every Conv2D, DepthwiseConv2D and Dense layer."""
    flops = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            height, width, channels = layer.output.shape[1:]
            kh, kw = layer.kernel.shape[:2]
            flops += 2 * height * width * kh * kw * channels
        elif isinstance(layer, keras.layers.Conv2D):
            height, width, out_channels = layer.output.shape[1:]
            kh, kw, in_channels, _ = layer.kernel.shape
            flops += 2 * height * width * kh * kw * in_channels * out_channels
        elif isinstance(layer, keras.layers.Dense):
            flops += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(flops)


def level_cost(model, task, level):
    """(params, flops) of (task, level): every weight its plain model holds, BN statistics included."""
    plain = model.to_plain(task, level)
    return int(plain.count_params()), count_flops(plain)
