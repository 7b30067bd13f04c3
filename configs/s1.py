"""S1: sequential learning of CIFAR-10's classes 0-4 (task 1), then classes 5-9 (task 2); k = 2.

What the paper says (METHOD.md, slides): in S1 the old task (task 1) holds
the first five classes of CIFAR-10 and the new task (task 2) the last five.
Task 1 is learned first; then task 2 is learned with only its own data, the
old task kept by distillation from the old network (Eq. 4, learning without
forgetting). Each task's DVN gives one unit and all units.

Where the notes are silent, [choice] (see METHOD.md for Eq. 4's): the
distillation compares each old task at the same level of the frozen
network, KD at temperature T = 2, weight lambda = 1, scaled by T^2.
Each stage trains as J1 does: WRN-28-10, SGD, momentum 0.9, batch 128,
rate 0.1, weight decay 5e-4, 200 epochs per stage, rate / 10 at 50% and 75%
of the stage; "standard" augmentation. Stage 2 restarts the schedule at
rate 0.1 (the paper does not give the new task's rate).

Run: python -m dvn_tf.train --scenario=s1 --workdir=runs/s1
"""

from configs.common import paper_config


def get_config():
    """The S1 scenario."""
    c = paper_config()
    c.scenario = "s1"
    c.tasks = [
        {"name": "cifar10_0_4", "dataset": "cifar10", "classes": [0, 1, 2, 3, 4],
         "augment": "standard"},
        {"name": "cifar10_5_9", "dataset": "cifar10", "classes": [5, 6, 7, 8, 9],
         "augment": "standard"},
    ]
    c.sequential = True
    c.units = 2
    return c
