"""fashion: the `fashion` scenario (classes 0-4 and 5-9, k = 2) with dvn, dvn+ipd, nested, independent.

3 seeds at the 3-epoch budget (configs/studies/common.py: ResNet-8 width 8, 5,000
training images per task, 3 epochs, standard augmentation). Every
dvn run is also exported with --quantize=int8: study.md compares the float
and int8 held-out accuracy of every (task, level).

Run: python -m studies --study=fashion --workdir=runs/study_fashion
"""

from configs import fashion
from configs.studies.common import joint_study, three_epoch_budget


def get_study():
    """The fashion study."""
    return joint_study("fashion", three_epoch_budget(fashion.get_config()), int8=["dvn"])
