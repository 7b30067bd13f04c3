"""int8-qat: quantization-aware fine-tuning with tensorflow-model-optimization, in a child process.

tfmot works only on Keras 2 (`tf_keras`) models and sets TF_USE_LEGACY_KERAS=1
when imported (DESIGN.md), so the exporter never imports it: `run_child`
starts `python -m export.qat`, which

  1. with Keras 3 only: loads the DVN, materializes every (task, level) with
     `to_plain` and reads its graph (Conv2D / BatchNormalization / ReLU / Add /
     GlobalAveragePooling2D / Dense) and weights into plain Python and numpy;
  2. then imports tf_keras and tfmot, rebuilds each graph as a tf_keras twin
     with the same weights, checks that the twin computes the plain model's
     logits, wraps it with `quantize_model`, fine-tunes it for a few epochs on
     the task's training split, fixes its batch (export/convert.py's
     `with_static_batch`) and converts it to a full-integer int8 .tflite.

It writes STAGING/{task}_level{level}.tflite and STAGING/qat.json with the
fake-quantized Keras model's held-out accuracy per file.
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

RESULTS = "qat.json"
DEFAULT_EPOCHS = 3
LEARNING_RATE_FRACTION = 0.01  # fine-tuning rate: this share of the config's learning rate


class QATError(RuntimeError):
    """Quantization-aware export failed; the message is one line."""


def run_child(workdir, staging, epochs=DEFAULT_EPOCHS, learning_rate=None, seed=0, batch=1):
    """Run the QAT export of every (task, level) in a child process; {file: result} on success."""
    command = [sys.executable, "-m", "export.qat", f"--workdir={workdir}",
               f"--staging={staging}", f"--epochs={epochs}", f"--seed={seed}", f"--batch={batch}"]
    if learning_rate is not None:
        command.append(f"--learning-rate={learning_rate}")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run(command, stderr=subprocess.PIPE, text=True, env=env)
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        marked = [line for line in lines if line.startswith("export.qat: error:")]
        message = (marked or lines or ["no error output"])[-1]
        raise QATError(message.replace("export.qat: error: ", ""))
    with open(os.path.join(staging, RESULTS)) as file:
        return json.load(file)


def model_file(task_name, level):
    """The file name of a (task, level) model."""
    return f"{task_name}_level{level}.tflite"


# ---- phase 1: Keras 3 ----------------------------------------------------------------

def unsupported(layer, what):
    """The QATError for a layer the twin cannot rebuild, pointing to post-training int8."""
    return QATError(f"layer {layer.name}: {what} in int8-qat; "
                    f"export with --quantize=int8 (post-training) instead")


def read_graph(plain):
    """The layers of a plain Keras 3 functional model as [(kind, options, weights, inputs, output)].

    Tensors are named by integers: 0 is the model input.
    """
    ids = {id(plain.inputs[0]): 0}
    graph = []
    for layer in plain.operations:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        node = layer._inbound_nodes[0]
        config = layer.get_config()
        if kind == "Conv2D":
            if (config["activation"] != "linear" or config["groups"] != 1
                    or tuple(config["dilation_rate"]) != (1, 1)):
                raise unsupported(layer, "only plain linear convolutions are rebuilt")
            options = {k: config[k] for k in ("filters", "kernel_size", "strides",
                                              "padding", "use_bias")}
        elif kind == "BatchNormalization":
            options = {k: config[k] for k in ("momentum", "epsilon", "center", "scale")}
        elif kind == "Dense":
            if config["activation"] != "linear":
                raise unsupported(layer, "only linear Dense layers are rebuilt")
            options = {k: config[k] for k in ("units", "use_bias")}
        elif kind == "ReLU":
            if (config.get("max_value") is not None or config.get("negative_slope", 0.0)
                    or config.get("threshold", 0.0)):
                raise unsupported(layer, "only plain ReLU is rebuilt")
            options = {}
        elif kind in ("Add", "GlobalAveragePooling2D"):
            options = {}
        else:
            raise unsupported(layer, f"{kind} is not rebuilt yet")
        inputs = [ids[id(t)] for t in node.input_tensors]
        ids[id(node.output_tensors[0])] = len(ids)
        graph.append((kind, {**options, "name": layer.name},
                      [w.copy() for w in layer.get_weights()], inputs, ids[id(node.output_tensors[0])]))
    return graph


# ---- phase 2: tf_keras and tfmot ----------------------------------------------------

def build_twin(graph, input_shape, name):
    """The tf_keras functional model of `graph`, holding its weights."""
    import tf_keras

    tensors = {0: tf_keras.Input(input_shape, name="image")}
    layers = []
    for kind, options, weights, inputs, output in graph:
        layer = getattr(tf_keras.layers, kind)(**options)
        args = [tensors[i] for i in inputs]
        tensors[output] = layer(args if kind == "Add" else args[0])
        layers.append((layer, weights))
    for layer, weights in layers:
        layer.set_weights(weights)
    return tf_keras.Model(tensors[0], tensors[graph[-1][4]], name=name)


def fine_tune(twin, task, epochs, learning_rate, batch_size, seed):
    """quantize_model(twin), fine-tuned on the task's training split; returns the QAT model."""
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot
    import tf_keras

    model = tfmot.quantization.keras.quantize_model(twin)
    steps = max(task.train_size // batch_size, 1)
    schedule = tf_keras.optimizers.schedules.CosineDecay(learning_rate, max(epochs * steps, 1))
    model.compile(optimizer=tf_keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True),
                  loss=tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    tf.random.set_seed(seed)
    data = (task.train.shuffle(min(task.train_size, 10_000), seed=seed,
                               reshuffle_each_iteration=True)
            .batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE))
    if epochs:
        model.fit(data, epochs=epochs, verbose=0)
    return model


def export_all(workdir, staging, epochs, learning_rate, seed, batch=1):
    """Phase 1 for every (task, level), then phase 2; writes the .tflite files and qat.json."""
    import keras
    import tensorflow as tf

    from export import convert, verify
    from export.loading import load_run

    config, dvn, tasks = load_run(workdir)
    rate = learning_rate if learning_rate is not None else (
        config.learning_rate * LEARNING_RATE_FRACTION)
    jobs = []
    for t, task in enumerate(tasks):
        images, labels = verify.held_out(task)
        calibration = convert.training_images(task, seed=seed)
        for level in dvn.levels:
            plain = dvn.to_plain(t, level)
            jobs.append((task, level, read_graph(plain), verify.keras_logits(plain, images),
                         images, labels, calibration))
    del dvn
    keras.backend.clear_session()

    import tf_keras

    results = {}
    for task, level, graph, reference, images, labels, calibration in jobs:
        started = time.perf_counter()
        name = f"{task.name} level {level}"
        twin = build_twin(graph, task.input_shape, f"{task.name}_level{level}")
        verify.check_parity(f"{name} (tf_keras twin)", reference,
                            verify.keras_logits(twin, images))
        model = fine_tune(twin, task, epochs, rate, config.batch_size, seed)
        logits = verify.keras_logits(model, images)
        static = convert.with_static_batch(model, batch, framework=tf_keras)
        with convert.quiet():
            converter = tf.lite.TFLiteConverter.from_keras_model(static)
            content = convert.make_converter(converter, "int8", calibration, batch).convert()
        file = model_file(task.name, level)
        with open(os.path.join(staging, file), "wb") as out:
            out.write(content)
        results[file] = {"accuracy_keras": verify.accuracy(logits, labels),
                         "accuracy_float": verify.accuracy(reference, labels),
                         "epochs": epochs, "learning_rate": rate}
        print(f"  qat {name}: {epochs} epochs at rate {rate:g}, fake-quant accuracy "
              f"{results[file]['accuracy_keras']:.4f} (float {results[file]['accuracy_float']:.4f}), "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        del model, twin
    with open(os.path.join(staging, RESULTS), "w") as out:
        json.dump(results, out, indent=1)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="export.qat", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--staging", required=True)
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args(argv)
    # find_spec, not import: importing tfmot now would switch TensorFlow to Keras 2 before phase 1.
    if not all(importlib.util.find_spec(m) for m in ("tensorflow_model_optimization", "tf_keras")):
        print("export.qat: error: int8-qat needs tensorflow-model-optimization and tf-keras: "
              "pip install --no-deps -r export/requirements-qat.txt", file=sys.stderr)
        return 2
    try:
        export_all(args.workdir, args.staging, args.epochs, args.learning_rate, args.seed,
                   args.batch)
    except (QATError, ValueError, RuntimeError) as error:
        from export.loading import first_line
        print(f"export.qat: error: {first_line(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
