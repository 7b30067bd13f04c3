"""fashion: the `fashion` scenario (classes 0-4 and 5-9, k = 2) with dvn, dvn+ipd, nested, independent.

3 seeds at 5,000 training images per task (configs/studies/common.py). Every
dvn run is also exported with --quantize=int8: study.md compares the float
and int8 held-out accuracy of every (task, level).

Run: python -m studies --study=fashion --workdir=runs/study_fashion
"""

from configs.studies.common import joint_study


def get_study():
    """The fashion study."""
    return joint_study("fashion", int8=["dvn"])
