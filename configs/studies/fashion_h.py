"""fashion_h: the `fashion_h` scenario (coarse and fine classes, k = 2) with dvn, dvn+ipd, nested, independent.

3 seeds at 5,000 training images (configs/studies/common.py).

Run: python -m studies --study=fashion_h --workdir=runs/study_fashion_h
"""

from configs.studies.common import joint_study


def get_study():
    """The fashion_h study."""
    return joint_study("fashion_h")
