"""The training time a run expects, printed at its start: steps x an estimated cost per step.

STEP_SECONDS holds, per network, the wall time of one joint training step
(a batch from each of two tasks through both levels, forward and backward;
the held-out evaluation after every epoch and the tracing spread over the
steps) on this project's 2-core CPU with both cores idle, measured there
(docs/training.md, "Expected training time").
"""

import math

# (backbone, base width, image shape) -> seconds per joint step, k = 2, batch 64 per task, on the
# idle machine (2026-12-07, docs/training.md). Width 8: a `fashion` run of 471 steps (3 epochs,
# 10,000 images, standard augmentation) trained in 72 s. Width 16: the `fashion` default (30,000
# images x 7 epochs, 3,283 steps, no augmentation) trained in 523.0 s.
STEP_SECONDS = {("resnet-8", 8, (28, 28, 1)): 0.153, ("resnet-8", 16, (28, 28, 1)): 0.1593}
REFERENCE_BATCH = 64  # the batch per task of STEP_SECONDS; other batches scale the step linearly
# A sequential stage's step against a joint step, from the `fashion_seq` default's epochs on the
# idle machine (stage 1: 147 s for 1,876 steps; stage 2: 304 s for 1,876): stage 1 trains one
# task; stage 2 the new task, the distilled old one and the frozen teacher's forward pass.
STAGE_STEP_SHARE = (0.49, 1.02)


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
