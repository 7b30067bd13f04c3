"""What the joint Fashion-MNIST studies share: their methods and their training budgets."""

# [choice] 5,000 training images per task (the scenarios' default is 10,000): four
# methods x 3 seeds of the `fashion` study then fit the 60 minutes on the
# project's 2-core CPU (docs/studies.md: the measured wall time).
BUDGET = {"train_examples": 5_000}
# [choice] Trained until the held-out accuracy stops improving (issue 23): ResNet-8 at width
# 16 with 6,000 training images per task and no augmentation reached about 0.91 (classes 0-4)
# and 0.97 (5-9) in 15 epochs in an earlier check; 20 epochs leave room to see the plateau,
# which study.md's table of the last epochs' held-out accuracy shows (or not).
CONVERGED = {"base_width": 16, "train_examples": 6_000, "epochs": 20}
# In-place distillation (US-Nets): level 1 also fits the top level's predictions (T = 1).
INPLACE_DISTILLATION = {"method": "dvn", "inplace_distill_weight": 1.0,
                        "inplace_distill_temperature": 1.0}


def converged_budget(config):
    """CONVERGED, with the tasks of a scenario's config trained without augmentation."""
    tasks = [{**task, "augment": "none"} for task in config.tasks]
    return {**CONVERGED, "tasks": tasks}


def joint_study(scenario, int8=(), budget=None):
    """dvn, dvn+ipd, nested and independent on a joint scenario, 3 seeds, at budget (BUDGET)."""
    budget = BUDGET if budget is None else budget
    return {"seeds": 3, "int8": list(int8), "runs": [
        (scenario, "dvn", budget),
        (scenario, "dvn+ipd", {**budget, **INPLACE_DISTILLATION}),
        (scenario, "nested", budget),
        (scenario, "independent", budget),
    ]}
