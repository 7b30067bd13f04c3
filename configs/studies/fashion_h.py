"""fashion_h: the `fashion_h` scenario (coarse and fine classes, k = 2) with dvn, dvn+ipd, nested, independent.

3 seeds at the 3-epoch budget (configs/studies/common.py: ResNet-8 width 8, 5,000
training images, 3 epochs, standard augmentation).

Run: python -m studies --study=fashion_h --workdir=runs/study_fashion_h
"""

from configs import fashion_h
from configs.studies.common import joint_study, three_epoch_budget


def get_study():
    """The fashion_h study."""
    return joint_study("fashion_h", three_epoch_budget(fashion_h.get_config()))
