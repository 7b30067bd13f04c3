"""images: a DVN on your own folders of images (python -m dvn_tf.train --images=PATH ...).

The tasks come from `--images=[NAME=]PATH` (one task per folder of CLASS
sub-folders; two, coarse and fine, per GROUP/CLASS tree) or from
`--config.tasks` with dataset "folder" (dvn_tf/data/folder_tasks.py).

[choice]s for a few hundred to a few thousand images per class on a CPU:
- ResNet-8, base width 16, k = 2 units: each task gets a level of half the
  channels and the whole network;
- images resized to the median image's shorter side, at most 64 px
  (128 for MobileNetV2), unless --config.image_size=N;
- held out: the folder's test/ or val/ split, else 20% of each class
  (--config.holdout), drawn with the seed;
- 20 epochs, batch 32 per task, SGD momentum 0.9, rate 0.05 with cosine
  decay, weight decay 5e-4; "standard" augmentation (pad, random crop,
  flip left-right).
With few images, start from ImageNet weights instead:
--config.backbone=mobilenetv2 --config.init_from=mobilenet_v2.keras
(docs/own_images.md).
"""

from configs.common import base_config


def get_config():
    """The images scenario (its tasks are set by --images)."""
    c = base_config()
    c.scenario = "images"
    c.backbone = "resnet-8"
    c.base_width = 16
    c.units = 2
    c.epochs = 20
    c.batch_size = 32
    c.learning_rate = 0.05
    c.weight_decay = 5e-4
    c.schedule = "cosine"
    return c
