"""fashion: joint learning of Fashion-MNIST's classes 0-4 and 5-9; k = 2 (a CPU-scale J1).

Not from the paper: the analogue of J1 (METHOD.md, Eq. 2) on real data that
is not saturated and trains on a CPU. Task `fashion_0_4` holds T-shirt/top,
Trouser, Pullover, Dress, Coat; task `fashion_5_9` Sandal, Shirt, Sneaker,
Bag, Ankle boot. Orders (1, 2) and (2, 1): each task has a one-unit level
(half of every layer's channels) and the whole network, 2 x 2 inferences
from one set of weights.

Data: tfds's `fashion_mnist` (60,000 training and 10,000 test images, 28x28
grayscale), prepared on first use from Debian's `dataset-fashion-mnist` files
with no network (else downloaded by tfds). Held out: the test split, 5,000
images per task.

[choice]s, made so that `--config.method=dvn` spends about its 10 minutes on
the project's 2-core CPU with both cores idle as close to the ceiling as it
can (issue 23). Timed there on 2026-12-07, seed 0 (docs/training.md): these
defaults trained in 523 s (548 s from start to results) and reached 0.947
and 0.981 at level 2; 15,000 images x 8 epochs had trained in 321 s to 0.940
and 0.979, so more images beat more epochs over fewer. The run prints its
expected time at its start (dvn_tf/expected_time.py):
- ResNet-8, base width 16, k = 2 units;
- `train_examples` = 30,000: every training image of each task, 7 epochs
  (3,283 steps), batch 64 per task; SGD, momentum 0.9, rate 0.05 with
  cosine decay, weight decay 5e-4;
- no augmentation: in 7 epochs over 30,000 images the network does not yet
  fit its data.
Cost knobs for studies: `train_examples` and `epochs` (steps = epochs x
ceil(train_examples / 64)); every step trains both tasks at both levels.

Run: python -m dvn_tf.train --scenario=fashion --workdir=runs/fashion
"""

from configs.common import base_config

FIRST_FIVE = [0, 1, 2, 3, 4]
LAST_FIVE = [5, 6, 7, 8, 9]


def cpu_config():
    """base_config() with the CPU-scale training every Fashion-MNIST scenario shares."""
    c = base_config()
    c.backbone = "resnet-8"
    c.base_width = 16
    c.units = 2
    c.train_examples = 30_000
    c.epochs = 7
    c.batch_size = 64
    c.learning_rate = 0.05
    c.momentum = 0.9
    c.weight_decay = 5e-4
    c.schedule = "cosine"
    return c


def halves_tasks():
    """Task specs of classes 0-4 and 5-9 of Fashion-MNIST, without augmentation."""
    return [
        {"name": "fashion_0_4", "dataset": "fashion_mnist", "classes": FIRST_FIVE,
         "augment": "none"},
        {"name": "fashion_5_9", "dataset": "fashion_mnist", "classes": LAST_FIVE,
         "augment": "none"},
    ]


def get_config():
    """The fashion scenario."""
    c = cpu_config()
    c.scenario = "fashion"
    c.tasks = halves_tasks()
    return c
