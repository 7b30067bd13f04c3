"""fashion_h_converged: the `fashion_h` study's four methods, trained until they stop learning.

dvn, dvn+ipd, nested and independent on the `fashion_h` scenario (3 coarse
and 10 fine classes of the same images, k = 2), 3 seeds, at
configs/studies/common.py's CONVERGED budget: ResNet-8 width 16, 6,000
training images, no augmentation, with [choice] 12 epochs instead of 20,
for time: the 12 runs took 51 minutes of the idle 2-core CPU with
--jobs=2 (2026-12-07, docs/studies.md), where 20 epochs would take about
85. The cosine schedule ends each run at rate 0 either way; study.md's
table of each method's held-out accuracy over its last epochs shows
whether 12 reached the plateau (issue 23).

It resumes when started again.
Run: python -m studies --study=fashion_h_converged --workdir=runs/study_fashion_h_converged
"""

from configs import fashion_h
from configs.studies.common import converged_budget, joint_study


def get_study():
    """The fashion_h_converged study."""
    return joint_study("fashion_h", converged_budget(fashion_h.get_config(), epochs=12))
