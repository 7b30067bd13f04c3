"""fashion_seq_converged: classes 0-4, then 5-9, each stage trained to its plateau: does every seed keep the old task?

Sequential learning at convergence (issues 23 and 29): how many points of
the old task each level forgets, per seed, with distillation (dvn, Eq. 4)
under the default stage schedule, under the schedule that restarts the
rate at its peak (dvn_restart, the default before issue 29), and with
plain finetuning; and how close the new task comes to finetuning's. 5 seeds
at configs/studies/common.py's CONVERGED images and width (ResNet-8 width 16,
6,000 training images per task, no augmentation), with [choice] 12 epochs
per stage instead of 20, for time. Stage 1 is the same for every method of
a seed. finetune restarts the rate at its peak too: its new task is the
best a stage reaches when it may forget.

Run: python -m studies --study=fashion_seq_converged --jobs=2 --workdir=runs/study_fashion_seq_converged
"""

from configs import fashion_seq
from configs.studies.common import converged_budget

# The stage schedule before issue 29: no warm-up, every variable from the peak rate.
RESTART = {"stage_warmup_epochs": 0, "stage_rate_fraction": 1.0, "stage_shared_rate_fraction": 1.0}


def get_study():
    """The fashion_seq_converged study."""
    run_budget = converged_budget(fashion_seq.get_config(), epochs=12)
    return {"seeds": 5, "int8": [], "pairs": [("dvn", "finetune"), ("dvn", "dvn_restart")],
            "runs": [
                ("fashion_seq", "finetune", {**run_budget, **RESTART}),
                ("fashion_seq", "dvn_restart", {**run_budget, "method": "dvn", **RESTART}),
                ("fashion_seq", "dvn", run_budget),
            ]}
