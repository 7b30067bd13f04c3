"""fashion_seq: sequential learning of Fashion-MNIST's classes 0-4, then 5-9; k = 2 (a CPU-scale S1).

Not from the paper: the analogue of S1 (METHOD.md, Eq. 4) on a CPU. Stage 1
learns `fashion_0_4` with its hierarchy; stage 2 learns `fashion_5_9` from
its own images only, distilling `fashion_0_4` at every level from the frozen
stage-1 network (KD, T = 2, lambda = 1, scaled by T^2, as S1). `results.json`
lists the accuracy after each stage under `stages`, so forgetting is the
drop of `fashion_0_4` from stage 1 to stage 2.

Data and training as `fashion` (configs/fashion.py) per stage, with [choice]
all 30,000 training images of each task and 4 epochs per stage: ResNet-8,
width 16, batch 64, SGD with cosine decay from 0.05 restarted for stage 2,
no augmentation; stage 2 starts with the warm-up epoch of every later stage
(docs/training.md, "Sequential stages"). Timed on the 2-core CPU on
2026-12-08, seed 0 (docs/training.md): 497 s of training (531 s from start
to results); a
stage-1 step costs about 0.49 of a joint step and a stage-2 step (the new
task's levels, the old task's distilled levels and the frozen teacher)
about 1.02, so a fifth epoch per stage would pass the 10 minutes.

Run: python -m dvn_tf.train --scenario=fashion_seq --workdir=runs/fashion_seq
"""

from configs.fashion import cpu_config, halves_tasks


def get_config():
    """The fashion_seq scenario."""
    c = cpu_config()
    c.scenario = "fashion_seq"
    c.tasks = halves_tasks()
    c.sequential = True
    c.train_examples = 30_000
    c.epochs = 4
    return c
