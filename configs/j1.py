"""J1: joint learning of CIFAR-10 (task 1) and CIFAR-100 (task 2), k = 2 units.

What the paper says (METHOD.md, slides): J1 has two tasks, CIFAR-10 and
CIFAR-100, learned jointly (Eq. 2); backbones in the paper are WRN-n-s and
ResNet-n; with n_h = k = number of tasks, k = 2, so each task has two levels
(one unit, both units) and the DVN gives 2 x 2 inferences. Orders: task 1 =
(1, 2), task 2 = (2, 1). Levels and tasks weigh equally.

Where the notes are silent, [choice]:
- backbone WRN-28-10 (36.5M parameters, the usual wide CIFAR network);
- SGD, momentum 0.9 (Nesterov, as dvn_tf does), batch 128 per task, learning
  rate 0.1, weight decay 5e-4, 200 epochs, step schedule dividing the rate by
  10 at 50% and 75% of training (He et al.'s CIFAR schedule);
- "standard" augmentation (pad 4, random crop, flip) on every task, no MixUp;
- dropout 0 (WRN's 0.3 is left off, as the paper mentions none).

Run: python -m dvn_tf.train --scenario=j1 --workdir=runs/j1
"""

from configs.common import paper_config


def get_config():
    """The J1 scenario."""
    c = paper_config()
    c.scenario = "j1"
    c.tasks = [
        {"name": "cifar10", "dataset": "cifar10", "augment": "standard"},
        {"name": "cifar100", "dataset": "cifar100", "augment": "standard"},
    ]
    c.units = 2
    return c
