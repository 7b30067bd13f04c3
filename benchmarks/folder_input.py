"""A folder of JPEGs as a task: the first epoch against later ones, and the input against training.

Builds a folder of JPEGs (Fashion-MNIST from Debian's files, upscaled to
--side pixels, the first --per-class training images of each class), then
in one run:
- the input time of the first epoch (scan, decode, resize, save the cache in
  the workdir, one pass over the batches) against a later epoch's (one pass
  over the same batches) and a resumed run's (read the cache back, one pass),
  reading the images alone (no augmentation): `cached_epoch_speedup` and
  `resumed_epoch_speedup`;
- DVN training steps (the images scenario: ResNet-8, width 16, k = 2, two
  tasks over the folder, coarse and fine) fed from the folder's pipeline
  (with its augmentation) against the same steps fed from batches already in
  memory, interleaved over rounds: `input_bound_ratio`;
- for reference, the images per second of
  `keras.utils.image_dataset_from_directory` on the same folder (it decodes
  every epoch), against the first and a later epoch here.
The last line is one JSON object with every figure.

  python benchmarks/folder_input.py [--per-class 600] [--side 256] [--image-size 64]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dvn_tf.quiet import import_tensorflow_quietly  # noqa: E402

tf = import_tensorflow_quietly()
import keras  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from configs import images as images_scenario  # noqa: E402
from dvn_tf.data import load_tasks  # noqa: E402
from dvn_tf.data.fashion_folders import CLASS_NAMES, class_folder, read_split  # noqa: E402
from dvn_tf.data.folder_cache import image_flag_tasks, prepare_folders  # noqa: E402
from dvn_tf.data.pipeline import steps_per_epoch, training_dataset  # noqa: E402
from dvn_tf.experiment import make_model, make_optimizer  # noqa: E402


def write_folder(root, per_class, side):
    """root/GROUP/CLASS/NNNNN.jpg: Fashion-MNIST's first training images, upscaled to side."""
    images, labels = read_split("train")
    for label in range(len(CLASS_NAMES)):
        folder = os.path.join(root, class_folder(label, grouped=True))
        os.makedirs(folder, exist_ok=True)
        for number, index in enumerate(np.flatnonzero(labels == label)[:per_class]):
            Image.fromarray(images[index]).resize((side, side), Image.Resampling.BICUBIC).save(
                os.path.join(folder, f"{number:05d}.jpg"), quality=90)


def folder_config(root, image_size, augment):
    """The images scenario over the folder at root (coarse and fine tasks)."""
    config = images_scenario.get_config()
    config.tasks = tuple({**spec, "augment": augment} for spec in image_flag_tasks([root]))
    config.image_size = image_size
    return config


def one_pass(tasks, batch_size):
    """Seconds to draw one epoch of batches from the training pipeline."""
    batches = iter(training_dataset(tasks, batch_size, seed=0))
    started = time.perf_counter()
    for _ in range(steps_per_epoch(tasks, batch_size)):
        next(batches)
    return time.perf_counter() - started


def input_times(root, workdir, image_size, batch_size):
    """(first epoch s, later epoch s, resumed epoch s) of the folder's input, no augmentation."""
    config = folder_config(root, image_size, "none")
    started = time.perf_counter()
    for decode in prepare_folders(config, workdir, log=lambda line: None):
        decode().save()
    tasks = load_tasks(config, workdir)
    first = time.perf_counter() - started + one_pass(tasks, batch_size)
    later = statistics.median(one_pass(tasks, batch_size) for _ in range(3))
    started = time.perf_counter()
    tasks = load_tasks(folder_config(root, image_size, "none"), workdir)
    resumed = time.perf_counter() - started + one_pass(tasks, batch_size)
    return first, later, resumed


def keras_images_per_second(root, image_size, batch_size):
    """Images per second of one epoch of keras.utils.image_dataset_from_directory (decoding)."""
    dataset = keras.utils.image_dataset_from_directory(
        root, image_size=(image_size, image_size), batch_size=batch_size, color_mode="grayscale",
        verbose=False)
    started = time.perf_counter()
    count = sum(int(images.shape[0]) for images, _ in dataset)
    return count / (time.perf_counter() - started)


def step_times(root, workdir, image_size, batch_size, steps, rounds):
    """(folder-fed ms per step, memory-fed ms per step) of DVN training, interleaved by round."""
    config = folder_config(root, image_size, "standard")
    config.batch_size = batch_size
    tasks = load_tasks(config, workdir)
    model = make_model(config, tasks)
    model.compile(optimizer=make_optimizer(config, steps_per_epoch(tasks, batch_size)))
    from_folder = iter(training_dataset(tasks, batch_size, seed=0))
    in_memory = [next(from_folder) for _ in range(steps)]  # the same kind of batches, held
    for batch in in_memory[:3]:  # trace and warm up
        model.train_on_batch(batch)
    folder_ms, memory_ms = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(next(from_folder))
        folder_ms.append(1000 * (time.perf_counter() - started) / steps)
        started = time.perf_counter()
        for batch in in_memory:
            model.train_on_batch(batch)
        memory_ms.append(1000 * (time.perf_counter() - started) / steps)
    return statistics.median(folder_ms), statistics.median(memory_ms)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=600,
                        help="JPEGs per class (10 classes: 6,000 by default)")
    parser.add_argument("--side", type=int, default=256, help="side of the JPEG files")
    parser.add_argument("--image-size", type=int, default=64, help="side the images train at")
    parser.add_argument("--batch", type=int, default=32, help="batch per task")
    parser.add_argument("--steps", type=int, default=30, help="training steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dvn-folder-input-") as scratch:
        root, workdir = os.path.join(scratch, "fashion"), os.path.join(scratch, "run")
        write_folder(root, args.per_class, args.side)
        count = args.per_class * len(CLASS_NAMES)
        print(f"{count:,} JPEGs of {args.side}x{args.side} in {root}, trained at "
              f"{args.image_size}x{args.image_size}")
        first, later, resumed = input_times(root, workdir, args.image_size, args.batch)
        keras_rate = keras_images_per_second(root, args.image_size, args.batch)
        print(f"Input, one epoch: first {first:.2f} s ({count / first:,.0f} images/s: decode "
              f"once), later {later:.3f} s ({count / later:,.0f} images/s), resumed run "
              f"{resumed:.3f} s; keras image_dataset_from_directory {count / keras_rate:.2f} s "
              f"({keras_rate:,.0f} images/s, decoding every epoch)")
        folder_ms, memory_ms = step_times(root, workdir, args.image_size, args.batch,
                                          args.steps, args.rounds)
        print(f"DVN training step: {folder_ms:.1f} ms fed from the folder, {memory_ms:.1f} ms "
              "fed from batches in memory")
    result = {
        "images": count, "jpeg_side": args.side, "image_size": args.image_size,
        "first_epoch_input_s": round(first, 3), "later_epoch_input_s": round(later, 4),
        "resumed_epoch_input_s": round(resumed, 4),
        "cached_epoch_speedup": round(first / later, 1),
        "resumed_epoch_speedup": round(first / resumed, 1),
        "first_epoch_images_per_s": round(count / first),
        "later_epoch_images_per_s": round(count / later),
        "keras_image_dataset_from_directory_images_per_s": round(keras_rate),
        "folder_step_ms": round(folder_ms, 2), "memory_step_ms": round(memory_ms, 2),
        "input_bound_ratio": round(folder_ms / memory_ms, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
