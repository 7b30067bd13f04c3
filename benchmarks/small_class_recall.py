"""Each class's held-out recall, per (task, level), of finished runs: does the small class get learned?

Loads each workdir's `model.keras` and its tasks' held-out split (as the
export does) and prints, per task and level, every class's recall and the
overall accuracy; the last line is one JSON object with every figure. The
imbalanced folder of docs/choices.md ("Small classes") is made and trained by:

  python -m dvn_tf.data.fashion_folders /tmp/imb30 --flat --format=png \\
      --classes=T-shirt-top,Trouser,Sneaker,Shirt --train-count=Shirt=20 --held-out-per-class=200
  python -m dvn_tf.train --images=/tmp/imb30 --workdir=runs/imb30_none --config.balance=none
  python -m dvn_tf.train --images=/tmp/imb30 --workdir=runs/imb30_auto
  python benchmarks/small_class_recall.py runs/imb30_none runs/imb30_auto
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dvn_tf.quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()
import numpy as np  # noqa: E402

from export.loading import load_run  # noqa: E402


def confusion(model, task_index, task, level, batch_size=256):
    """int [C, C] held-out counts, confusion[true][predicted], of (task, level)."""
    counts = np.zeros((task.num_classes, task.num_classes), np.int64)
    for images, labels in task.test.batch(batch_size):
        predicted = np.argmax(model(images, task=task_index, level=level).numpy(), axis=-1)
        np.add.at(counts, (labels.numpy(), predicted), 1)
    return counts


def per_class(workdir):
    """[{task, level, labels, recall, accuracy}] of one finished run."""
    _, model, tasks = load_run(workdir)
    rows = []
    for index, task in enumerate(tasks):
        for level in model.levels:
            counts = confusion(model, index, task, level)
            rows.append({"task": task.name, "level": level, "labels": task.labels,
                         "recall": (np.diag(counts) / counts.sum(1)).round(4).tolist(),
                         "accuracy": round(float(np.trace(counts) / counts.sum()), 4)})
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdirs", nargs="+")
    figures = {}
    for workdir in parser.parse_args().workdirs:
        figures[workdir] = per_class(workdir)
        for row in figures[workdir]:
            recalls = ", ".join(f"{label} {recall:.3f}"
                                for label, recall in zip(row["labels"], row["recall"]))
            print(f"{workdir} {row['task']} level {row['level']}: accuracy "
                  f"{row['accuracy']:.4f}; recall {recalls}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
