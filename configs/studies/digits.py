"""digits: a smoke study: dvn with and without in-place distillation, 1 epoch, 2 seeds.

It shows the machinery (seeds, resuming, study.md, study.png, the int8
export of the dvn runs), not the method: one epoch does not train the
networks. (The float export with its latency runs the same export code; the
backbones study uses it.)

Run: python -m studies --study=digits --workdir=runs/study_digits
"""

from configs.studies.common import INPLACE_DISTILLATION

SMOKE = {"epochs": 1, "base_width": 8, "batch_size": 64}


def get_study():
    """The digits smoke study."""
    return {"seeds": 2, "int8": ["dvn"], "runs": [
        ("digits", "dvn", SMOKE),
        ("digits", "dvn+ipd", {**SMOKE, **INPLACE_DISTILLATION}),
    ]}
