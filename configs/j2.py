"""J2: joint learning of four tasks made from Tiny-ImageNet's 200 classes, 50 each; k = 4 units.

What the paper says (METHOD.md, slides): J2 divides the classes of
Tiny-ImageNet evenly into four tasks, learned jointly (Eq. 2); k = n_h = 4,
so the DVN gives 4 x 4 inferences from one network, where NestedNet needs one
network per task and the independent baseline about 4x the storage. Orders
(nearest rule): (1,2,3,4), (2,1,3,4), (3,2,4,1), (4,3,2,1).

Where the notes are silent, [choice]:
- the split: classes 0-49, 50-99, 100-149, 150-199 in `wnids.txt` order
  (the order of the official zip; the paper does not list its split);
- native 64x64 images, evaluated on the official validation split (50 per
  class; the test split has no labels);
- backbone WRN-28-10 (no stem stride, so 64x64 maps in the first stage);
- SGD, momentum 0.9, batch 128 per task, rate 0.1, weight decay 5e-4,
  200 epochs, rate / 10 at 50% and 75% of training; "standard" augmentation
  (pad 8, random crop, flip) on every task.

Data: the official tiny-imagenet-200.zip in DATA_DIR/downloads/manual/.
Run: python -m dvn_tf.train --scenario=j2 --workdir=runs/j2
"""

from configs.common import paper_config

CLASSES_PER_TASK = 50


def get_config():
    """The J2 scenario."""
    c = paper_config()
    c.scenario = "j2"
    c.tasks = [
        {"name": f"tiny_{first}_{first + CLASSES_PER_TASK - 1}", "dataset": "tiny_imagenet",
         "classes": list(range(first, first + CLASSES_PER_TASK)), "augment": "standard"}
        for first in range(0, 200, CLASSES_PER_TASK)
    ]
    c.units = 4
    return c
