"""Every level of one task over a folder of labelled images: per-class recall and accuracy.

The folder holds one sub-folder per class, named after the task's labels in
the manifest (not every label needs a folder). Each image is decoded and
preprocessed once, by the runtime's own preprocessing, and classified by
every level, all loaded at once. Hidden entries are skipped; files Pillow
cannot read are skipped, counted and named.
"""

import os
import sys
import time

import numpy as np

from dvn_runtime.model import load_model
from dvn_runtime.per_class import confusion_matrix, recall, worst_class
from dvn_runtime.preprocess import ImageError, preprocess

PROGRESS_SECONDS = 5.0  # at most one progress line this often, on stderr


def labelled_images(folder, labels):
    """[(path, class index)] of FOLDER/CLASS/*, sorted; ValueError on a folder that is not a label."""
    if not os.path.isdir(folder):
        raise ValueError(f"--evaluate: {folder!r} is not a folder; give a folder with one "
                         f"sub-folder per class")
    classes = sorted(entry.name for entry in os.scandir(folder)
                     if entry.is_dir() and not entry.name.startswith("."))
    unknown = [name for name in classes if name not in labels]
    if unknown:
        raise ValueError(f"--evaluate: {folder!r} has class folders that are not labels of the "
                         f"task: {', '.join(unknown)}; rename or remove them (the task's labels: "
                         f"{', '.join(labels)})")
    images = [(os.path.join(folder, name, file), labels.index(name)) for name in classes
              for file in sorted(os.listdir(os.path.join(folder, name)))
              if not file.startswith(".") and os.path.isfile(os.path.join(folder, name, file))]
    if not images:
        raise ValueError(f"--evaluate: {folder!r} has no images in class folders; put each "
                         f"class's images in a sub-folder named after its label "
                         f"({', '.join(labels)})")
    return images


def evaluate_folder(manifest, task_name, folder, num_threads=None, log=print):
    """Runs every level of a task on FOLDER and logs recall per class and accuracy per level.

    Returns ({level: confusion matrix [true, predicted]}, [unreadable paths]).
    """
    task = manifest.task(task_name)
    images = labelled_images(folder, list(task.labels))
    models = {level: load_model(manifest, info, num_threads)
              for level, info in manifest.models_for(task_name).items()}
    true, predicted, unreadable = [], {level: [] for level in models}, []
    last_report = time.monotonic()
    for done, (path, label) in enumerate(images, 1):
        try:
            batch = preprocess(path, task.input)
        except ImageError:
            unreadable.append(path)
            continue
        true.append(label)
        for level, model in models.items():
            predicted[level].append(int(np.argmax(model.logits(batch))))
        if time.monotonic() - last_report >= PROGRESS_SECONDS:
            print(f"{done} of {len(images)} images", file=sys.stderr, flush=True)
            last_report = time.monotonic()
    for model in models.values():
        model.close()
    if not true:
        raise ValueError(f"--evaluate: none of the {len(images)} files in {folder!r} is an "
                         f"image Pillow can read")
    confusions = {level: confusion_matrix(true, predicted[level], task.num_classes)
                  for level in models}
    _print_table(log, task, len(true), confusions)
    if unreadable:
        shown = ", ".join(unreadable[:5]) + (", ..." if len(unreadable) > 5 else "")
        log(f"skipped {len(unreadable)} unreadable file(s): {shown}")
    return confusions, unreadable


def _print_table(log, task, count, confusions):
    levels = list(confusions)
    width = max(len("accuracy"), len("worst class"), *(len(label) for label in task.labels))
    column = 14
    log(f"task {task.name}: {count} images, recall per class and level")
    log(f"{'class':<{width}}  {'images':>6}  " + "".join(f"{f'level {l}':>{column}}"
                                                      for l in levels))
    recalls = {level: recall(c) for level, c in confusions.items()}
    examples = next(iter(confusions.values())).sum(axis=1)
    for index, label in enumerate(task.labels):
        cells = "".join(f"{_ratio(recalls[l][index]):>{column}}" for l in levels)
        log(f"{label:<{width}}  {examples[index]:>6}  {cells}")
    accuracy = "".join(f"{_ratio(np.trace(c) / count):>{column}}" for c in confusions.values())
    log(f"{'accuracy':<{width}}  {count:>6}  {accuracy}")
    worst = ""
    for level in levels:
        index = worst_class(recalls[level])
        cell = f"{task.labels[index][:column - 6]} {recalls[level][index]:.2f}"
        worst += f"{cell:>{column}}"
    log(f"{'worst class':<{width}}  {'':>6}  {worst}")


def _ratio(value):
    return "-" if value is None else f"{value:.4f}"
