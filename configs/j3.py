"""J3: joint learning of CIFAR-100 (32x32), Tiny-ImageNet (64x64) and STL-10 (96x96); k = 3 units.

What the paper says (METHOD.md, slides): J3 learns three datasets of
different scales jointly (Eq. 2); k = n_h = 3. For one STL-10 image on a GPU
the three levels of its DVN take 0.65 ms (7.5M parameters), 1.02 ms (16.8M)
and 1.51 ms (29.8M).

Unit sizes: 7.5 / 29.8 = 0.25 and 16.8 / 29.8 = 0.56 are (1/2)^2 and (3/4)^2:
a sliced conv keeps (width share)^2 of its weights, so STL-10's levels use
1/2, 3/4 and all of every layer's channels, i.e. unequal units of relative
sizes 1/4, 1/4, 1/2 with the half-width unit first in STL-10's order. STL-10
is task 3, whose order under the nearest rule is (3, 2, 1), hence
`unit_fractions = (1, 1, 2)`. Counted here (dvn_tf.counting, every weight),
STL-10's levels hold 9.1M / 20.5M / 36.5M parameters on WRN-28-10: the same
ratios 0.25 / 0.56 / 1 as the paper; its absolute 29.8M is smaller, as it
left some weights out of its counts. The other tasks get 1/4, 1/2, 1 of the
width (CIFAR-100: units 1, 2, 3; Tiny-ImageNet: 2, 1, 3).

Where the notes are silent, [choice]:
- task order CIFAR-100, Tiny-ImageNet, STL-10 (as METHOD.md lists them, by
  image size, so adjacent IDs are the nearer domains);
- native image sizes: the convs are size-agnostic and the heads sit after
  global average pooling, so one network takes all three sizes;
- backbone WRN-28-10; SGD, momentum 0.9, batch 128 per task, rate 0.1,
  weight decay 5e-4, 200 epochs, rate / 10 at 50% and 75%; "standard"
  augmentation on every task. An epoch is one pass over the largest task
  (Tiny-ImageNet, 782 steps), in which CIFAR-100 is seen twice and STL-10's
  5,000 training images 20 times.

Data: CIFAR-100 and STL-10 from tensorflow-datasets; the official
tiny-imagenet-200.zip in DATA_DIR/downloads/manual/.
Run: python -m dvn_tf.train --scenario=j3 --workdir=runs/j3
"""

from configs.common import paper_config


def get_config():
    """The J3 scenario."""
    c = paper_config()
    c.scenario = "j3"
    c.tasks = [
        {"name": "cifar100", "dataset": "cifar100", "image_size": 32, "augment": "standard"},
        {"name": "tiny_imagenet", "dataset": "tiny_imagenet", "image_size": 64,
         "augment": "standard"},
        {"name": "stl10", "dataset": "stl10", "image_size": 96, "augment": "standard"},
    ]
    c.units = 3
    c.unit_fractions = (1.0, 1.0, 2.0)
    return c
