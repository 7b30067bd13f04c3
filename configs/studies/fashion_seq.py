"""fashion_seq: classes 0-4, then 5-9, with dvn (distillation, Eq. 4), finetune and feature_extraction.

3 seeds at the scenario's own budget (6,000 training images per task, 3
epochs per stage). study.md lists the old task's accuracy after every stage
and its forgetting (after stage 1 minus after the last stage).

Run: python -m studies --study=fashion_seq --workdir=runs/study_fashion_seq
"""


def get_study():
    """The fashion_seq study."""
    return {"seeds": 3, "int8": [], "runs": [
        ("fashion_seq", "dvn", {}),
        ("fashion_seq", "finetune", {}),
        ("fashion_seq", "feature_extraction", {}),
    ]}
