"""Shared helpers of the export tests (no tests here): small DVNs, runs of the CLIs."""

import os
import subprocess
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLAIN_LAYERS = {"InputLayer", "Conv2D", "DepthwiseConv2D", "BatchNormalization", "ReLU", "Add",
                "GlobalAveragePooling2D", "Dense"}


def small_dvn(backbone, rule="cyclic", num_tasks=3, units=3, base_width=6, input_shape=(8, 8, 3),
              seed=0):
    """A built 3-task, k=3 DVN with random weights and non-trivial BN statistics.

    Widths of 6 (ResNet) or 12 (WRN-n-2) split into three units of 2 channels,
    so a task whose level holds units {1, 3} uses non-contiguous channels.
    """
    import keras

    from dvn_tf.model import DVNModel
    from dvn_tf.units import UnitPlan

    keras.utils.set_random_seed(seed)
    model = DVNModel(task_names=[f"t{i}" for i in range(num_tasks)],
                     num_classes=[3 + i for i in range(num_tasks)],
                     plan=UnitPlan.from_rule(num_tasks, units, rule), input_shape=input_shape,
                     backbone=backbone, base_width=base_width, name="dvn")
    model.build()
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        name = variable.path.split("/")[-1]
        shape = tuple(variable.shape)
        if name == "gamma" or name == "moving_variance":
            value = rng.uniform(0.5, 1.5, shape)
        elif name in ("beta", "moving_mean") or name.startswith("bias"):
            value = rng.normal(0.0, 0.2, shape)
        else:
            continue
        variable.assign(value.astype("float32"))
    return model


def random_images(shape, count=16, seed=1):
    return np.random.default_rng(seed).normal(size=(count, *shape)).astype("float32")


def run_module(module, *args, timeout=600):
    """python -m MODULE ARGS from the repo root; the CompletedProcess (text)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CI": "1"}
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)


def export(workdir, *args):
    """python -m export --workdir=WORKDIR ARGS; the CompletedProcess."""
    return run_module("export", f"--workdir={workdir}", *args)
