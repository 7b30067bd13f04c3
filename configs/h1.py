"""H1: hierarchical classification, CIFAR-100 coarse (20 superclasses) and fine (100); k = 2.

What the paper says (METHOD.md, slides): H1 classifies CIFAR-100's images
coarse-to-fine, its 20 coarse classes and its 100 fine classes, as two tasks
of one DVN; DVN and NestedNet beat the independent baseline "probably due to
... sharing parameters between the tasks as they are closely related".
k = n_h = 2: orders coarse = (1, 2), fine = (2, 1).

Where the notes are silent, [choice]:
- two tasks over the same training images, each drawing its own shuffled
  batch (the data pipeline treats them as two datasets), rather than one
  batch with two labels;
- coarse is task 1 (coarse-to-fine);
- backbone WRN-28-10; SGD, momentum 0.9, batch 128 per task, rate 0.1,
  weight decay 5e-4, 200 epochs, rate / 10 at 50% and 75%; "standard"
  augmentation on both tasks.

Run: python -m dvn_tf.train --scenario=h1 --workdir=runs/h1
"""

from configs.common import paper_config


def get_config():
    """The H1 scenario."""
    c = paper_config()
    c.scenario = "h1"
    c.tasks = [
        {"name": "coarse", "dataset": "cifar100", "label_key": "coarse_label",
         "augment": "standard"},
        {"name": "fine", "dataset": "cifar100", "label_key": "label", "augment": "standard"},
    ]
    c.units = 2
    return c
