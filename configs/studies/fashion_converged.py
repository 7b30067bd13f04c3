"""fashion_converged: the `fashion` study's four methods, trained until they stop learning.

dvn, dvn+ipd, nested and independent on the `fashion` scenario (classes 0-4
and 5-9, k = 2), 3 seeds, at configs/studies/common.py's CONVERGED budget:
ResNet-8 width 16, 6,000 training images per task, no augmentation, 20
epochs. study.md lists each method's held-out accuracy over its last epochs,
which shows whether it had stopped improving (issue 23).

It took 63 minutes with --jobs=2 on the idle 2-core CPU (2026-12-07,
docs/studies.md); it resumes when started again.
Run: python -m studies --study=fashion_converged --workdir=runs/study_fashion_converged
"""

from configs import fashion
from configs.studies.common import converged_budget, joint_study


def get_study():
    """The fashion_converged study."""
    return joint_study("fashion", converged_budget(fashion.get_config()))
