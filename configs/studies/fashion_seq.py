"""fashion_seq: classes 0-4, then 5-9, with dvn (distillation, Eq. 4), finetune and feature_extraction.

3 seeds at the budget the scenario had when the study ran: ResNet-8 width 8,
6,000 training images per task, 3 epochs per stage, standard augmentation
(pinned here: the scenario's defaults have moved on). study.md lists the old
task's accuracy after every stage and its forgetting (after stage 1 minus
after the last stage).

Run: python -m studies --study=fashion_seq --workdir=runs/study_fashion_seq
"""

from configs import fashion_seq
from configs.studies.common import THREE_EPOCHS, budget

# The 3-epoch budget, with the 6,000 training images per task the scenario had then.
SEQUENTIAL_THREE_EPOCHS = {**THREE_EPOCHS, "train_examples": 6_000}


def get_study():
    """The fashion_seq study."""
    run_budget = budget(fashion_seq.get_config(), SEQUENTIAL_THREE_EPOCHS, "standard")
    return {"seeds": 3, "int8": [], "runs": [
        ("fashion_seq", "dvn", run_budget),
        ("fashion_seq", "finetune", run_budget),
        ("fashion_seq", "feature_extraction", run_budget),
    ]}
