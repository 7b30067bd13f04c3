"""S2: sequential learning of CIFAR-10 (old task 1), then CIFAR-100 (new task 2); k = 2.

What the paper says (METHOD.md, slides): S2 learns CIFAR-10 first, then
CIFAR-100 with only CIFAR-100's data, keeping CIFAR-10 by distillation from
the old network (Eq. 4, learning without forgetting); the DVN using all
units gave the best average among the compared methods.

Where the notes are silent, [choice] (as S1): distillation per old task at
the same level of the frozen network, T = 2, lambda = 1, scaled by T^2;
each stage trains with WRN-28-10, SGD, momentum 0.9, batch 128, rate 0.1,
weight decay 5e-4, 200 epochs per stage, rate / 10 at 50% and 75% of the
stage; "standard" augmentation.

Run: python -m dvn_tf.train --scenario=s2 --workdir=runs/s2
"""

from configs.common import paper_config


def get_config():
    """The S2 scenario."""
    c = paper_config()
    c.scenario = "s2"
    c.tasks = [
        {"name": "cifar10", "dataset": "cifar10", "augment": "standard"},
        {"name": "cifar100", "dataset": "cifar100", "augment": "standard"},
    ]
    c.sequential = True
    c.units = 2
    return c
