"""What the joint Fashion-MNIST studies share: their methods and their training budget."""

# [choice] 5,000 training images per task (the scenarios' default is 10,000): four
# methods x 3 seeds of the `fashion` study then fit the 60 minutes on the
# project's 2-core CPU (docs/studies.md: the measured wall time).
BUDGET = {"train_examples": 5_000}
# In-place distillation (US-Nets): level 1 also fits the top level's predictions (T = 1).
INPLACE_DISTILLATION = {"method": "dvn", "inplace_distill_weight": 1.0,
                        "inplace_distill_temperature": 1.0}


def joint_study(scenario, int8=()):
    """dvn, dvn+ipd, nested and independent on a joint scenario, 3 seeds, at BUDGET."""
    return {"seeds": 3, "int8": list(int8), "runs": [
        (scenario, "dvn", BUDGET),
        (scenario, "dvn+ipd", {**BUDGET, **INPLACE_DISTILLATION}),
        (scenario, "nested", BUDGET),
        (scenario, "independent", BUDGET),
    ]}
