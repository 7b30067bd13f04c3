"""Held-out sample images per task, as PNG files a phone, a board or a browser can classify."""

import json
import os

import numpy as np
from PIL import Image

SAMPLES = "samples"
INDEX = "index.json"  # {task: [file names]}: a browser cannot list a folder


def to_pixels(image, task):
    """An 8-bit image from a normalized one: undo (x - mean) / std, then scale [0, 1] to 0..255."""
    unit = np.asarray(image) * np.asarray(task.std) + np.asarray(task.mean)
    pixels = np.clip(np.rint(unit * 255), 0, 255).astype(np.uint8)
    return pixels[..., 0] if pixels.shape[-1] == 1 else pixels


def write_samples(tasks, held_out, directory, per_task=10):
    """Write up to `per_task` held-out images of each task as directory/TASK/NN_LABEL.png.

    `held_out` gives each task's (images, labels) arrays, in task order.
    directory/index.json lists the files of each task.
    """
    index = {}
    for task, (images, labels) in zip(tasks, held_out):
        folder = os.path.join(directory, task.name)
        os.makedirs(folder, exist_ok=True)
        index[task.name] = []
        for number, (image, label) in enumerate(zip(images[:per_task], labels[:per_task])):
            name = f"{number:02d}_{task.labels[int(label)]}.png"
            Image.fromarray(to_pixels(image, task)).save(os.path.join(folder, name))
            index[task.name].append(name)
    with open(os.path.join(directory, INDEX), "w", encoding="utf-8") as file:
        json.dump(index, file, indent=1)
