"""The training time a run expects, printed at its start: steps x an estimated cost per step.

STEP_SECONDS holds, per network, the wall time of one joint training step
(a batch from each of two tasks through both levels, forward and backward;
the held-out evaluation after every epoch and the tracing spread over the
steps) on this project's 2-core CPU with both cores idle. They are
ESTIMATES, not measurements of an idle machine: docs/training.md ("Expected
training time") gives the short `nice` runs they come from and the scaling.
"""

import math

# (backbone, base width, image shape) -> estimated seconds per joint step, k = 2, batch 64 per
# task. Width 8: a `fashion` run of 471 steps trained in 72 s on the idle machine (issue 23,
# 2026-12-07). Width 16: that, times the ratio of the two widths' second epochs measured one
# after the other under the same load (`nice -n 19`, load average 10-12, 94 steps of 6,000
# images, evaluation included): 53 s / 26 s = 2.02 (docs/training.md).
STEP_SECONDS = {("resnet-8", 8, (28, 28, 1)): 0.153, ("resnet-8", 16, (28, 28, 1)): 0.309}
REFERENCE_BATCH = 64  # the batch per task of STEP_SECONDS; other batches scale the step linearly
# A sequential stage's step against a joint step (docs/training.md: measured 0.56-0.61 s for
# stage 1, 0.73-0.74 s for stage 2, 0.67-0.93 s for a joint step, under one load): stage 1 trains
# one task; stage 2 the new task, the distilled old one and the frozen teacher's forward pass.
STAGE_STEP_SHARE = (0.75, 0.93)


def expected_seconds(config, tasks):
    """Estimated seconds of training of the config's run, or None for a network not measured.

    Counted as dvn's steps; nested and independent run about the same
    computation in smaller networks, each with its own start-up and tracing.
    """
    key = (config.backbone, config.base_width, tuple(tasks[0].input_shape))
    if key not in STEP_SECONDS or len(tasks) != 2 or config.units != 2:
        return None
    if config.sequential:
        steps = sum(share * config.epochs * math.ceil(task.train_size / config.batch_size)
                    for share, task in zip(STAGE_STEP_SHARE, tasks))
    else:
        steps = config.epochs * max(math.ceil(t.train_size / config.batch_size) for t in tasks)
    return steps * STEP_SECONDS[key] * config.batch_size / REFERENCE_BATCH


def expected_time_line(config, tasks):
    """The line a run prints at its start, or None when no step cost is known for its network."""
    seconds = expected_seconds(config, tasks)
    if seconds is None:
        return None
    amount = f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
    return (f"Expected training time ({config.method}): about {amount} on this project's 2-core "
            f"CPU with both cores idle; an estimate from measured steps per second "
            f"(docs/training.md)")
