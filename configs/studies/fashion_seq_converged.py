"""fashion_seq_converged: classes 0-4, then 5-9, with dvn and finetune, each stage trained to its plateau.

The `fashion_seq` study's question at convergence (issue 23, item 4): how
many points of the old task each level forgets with distillation (dvn,
Eq. 4) against plain finetuning. 3 seeds at configs/studies/common.py's
CONVERGED images and width (ResNet-8 width 16, 6,000 training images per
task, no augmentation), with [choice] 12 epochs per stage instead of 20,
for time (two stages of 20 epochs would take about 16 minutes a run).
Each stage restarts the cosine schedule, whose decay to 0 brings most of
a run's late gain. Whether 12 epochs reach the plateau is checked, not
assumed: stage 1's accuracy on classes 0-4 against `fashion_converged`'s
(about 0.91 after 20 epochs), and study.md's table of the last epochs of
the new task. Its stage table shows the old task after each stage and the
forgetting.

Run: python -m studies --study=fashion_seq_converged --workdir=runs/study_fashion_seq_converged
"""

from configs import fashion_seq
from configs.studies.common import converged_budget


def get_study():
    """The fashion_seq_converged study."""
    run_budget = converged_budget(fashion_seq.get_config(), epochs=12)
    return {"seeds": 3, "int8": [], "pairs": [("dvn", "finetune")], "runs": [
        ("fashion_seq", "dvn", run_budget),
        ("fashion_seq", "finetune", run_budget),
    ]}
