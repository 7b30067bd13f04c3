"""Embedded default: scikit-learn's bundled digits, task 'low' (0-4) and task 'high' (5-9).

Not from the paper: a two-task joint scenario that trains in minutes on a CPU,
so a new user sees every part work with no download. ResNet-8, k = 2 units.
"""

from configs.common import base_config


def get_config():
    """The digits scenario."""
    c = base_config()
    c.scenario = "digits"
    c.tasks = [
        {"name": "low", "dataset": "digits", "classes": [0, 1, 2, 3, 4]},
        {"name": "high", "dataset": "digits", "classes": [5, 6, 7, 8, 9]},
    ]
    c.backbone = "resnet-8"
    c.base_width = 16
    c.units = 2
    c.epochs = 30
    c.batch_size = 32
    c.learning_rate = 0.05
    c.weight_decay = 1e-4
    return c
