"""fashion_h: hierarchical classification of Fashion-MNIST, 3 coarse and 10 fine classes; k = 2.

Not from the paper: the analogue of H1 (coarse-to-fine over the same
images) on a CPU. Task `coarse` groups the ten classes through the task
spec's `groups` (a label mapping, as any task may use): clothing (T-shirt/top,
Trouser, Pullover, Dress, Coat, Shirt: 0, 1, 2, 3, 4, 6), footwear (Sandal,
Sneaker, Ankle boot: 5, 7, 9) and bag (8). Task `fine` has the ten classes.
Orders: coarse (1, 2), fine (2, 1).

Data and training as `fashion` (configs/fashion.py), about 10 minutes on
the project's idle 2-core CPU (printed at the start): ResNet-8, width 16,
30,000 training images (of 60,000, a random subset drawn with the seed; the
same images for both tasks), 7 epochs, batch 64 per task, SGD with
cosine decay from 0.05, no augmentation; held out: the 10,000 test images.
[choice] as in H1: each task draws its own shuffled batches of the shared images.
Task `coarse`'s groups hold 6, 3 and 1 classes, more than the 3x at which
`--config.balance=auto` balances; the scenario trains unbalanced (`none`), as
the paper's H1 and the results in docs/results/ were, so that they reproduce.

Run: python -m dvn_tf.train --scenario=fashion_h --workdir=runs/fashion_h
"""

from configs.fashion import cpu_config

COARSE_GROUPS = {"clothing": [0, 1, 2, 3, 4, 6], "footwear": [5, 7, 9], "bag": [8]}


def get_config():
    """The fashion_h scenario."""
    c = cpu_config()
    c.scenario = "fashion_h"
    c.balance = "none"
    c.tasks = [
        {"name": "coarse", "dataset": "fashion_mnist", "groups": COARSE_GROUPS,
         "augment": "none"},
        {"name": "fine", "dataset": "fashion_mnist", "augment": "none"},
    ]
    return c
