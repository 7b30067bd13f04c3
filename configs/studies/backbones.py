"""backbones: the `fashion` scenario's DVN on ResNet-8 and on a MobileNetV2 of its top-level FLOPs.

3 seeds at the 3-epoch budget (configs/studies/common.py: 5,000 training
images per task, 3 epochs, standard augmentation; ResNet-8 at width 8), the
same training for both (SGD 0.05 cosine, batch 64).
Every run is also exported as float32 LiteRT: study.md lists per (task,
level) the LiteRT accuracy, the median latency and the accuracy per
millisecond, and which backbone gives more of it.

[choice] MobileNetV2 at width_multiplier 0.075 and depth_coefficient 0.25:
its top level costs 4,700,224 FLOPs on 28x28x1 (dvn_tf/counting.py),
ResNet-8's 4,729,408 (0.6% less); level 1 costs 1,565,984 against 1,210,656
(29% more). The smallest MobileNetV2 has to be that close: depth 0.25 keeps
one block per row (7, the fewest), multipliers 0.07 to 0.08 build the same
network (every layer 8 channels but the last two blocks' 16 and 24, and the
last conv's 1,280, which Keras keeps below width 1), 0.05 gives 4,260,416
and 0.1 gives 5,241,408 FLOPs. It holds 56,613 params at the top level
against ResNet-8's 19,981, most of them in that 1,280-channel conv.

The `dvn` runs are the `fashion` study's (same label and config): copy its
finished DIR/fashion/dvn/seedS into this study's workdir to skip training them.

Run: python -m studies --study=backbones --workdir=runs/study_backbones
"""

from configs import fashion
from configs.studies.common import three_epoch_budget

MOBILENETV2 = {"method": "dvn", "backbone": "mobilenetv2", "width_multiplier": 0.075,
               "depth_coefficient": 0.25}


def get_study():
    """The backbones study."""
    run_budget = three_epoch_budget(fashion.get_config())
    return {"seeds": 3, "int8": [], "float": ["dvn", "dvn-mobilenetv2"], "runs": [
        ("fashion", "dvn", run_budget),
        ("fashion", "dvn-mobilenetv2", {**run_budget, **MOBILENETV2}),
    ]}
