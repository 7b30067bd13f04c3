"""BudgetPolicy against the vectors shared with the Android (Java) policy."""

import json
import os

import pytest

from dvn_runtime.policy import BudgetPolicy

VECTORS = os.path.join(os.path.dirname(__file__), "fixtures", "policy_vectors.json")
with open(VECTORS, encoding="utf-8") as _f:
    FIXTURE = json.load(_f)
CASES = FIXTURE["cases"]


def _policy(case, policy_class=BudgetPolicy, **overrides):
    options = {**case["policy"], **overrides}
    return policy_class({int(level): cost for level, cost in case["costs"].items()}, **options)


def _levels(policy, readings):
    return [policy.update(available) for available in readings]


def test_fixture_schema():
    assert FIXTURE["format"] == 1
    keys = {"margin_fraction", "margin_bytes", "headroom_bytes", "upgrade_after", "cap", "floor"}
    for case in CASES:
        assert set(case) == {"name", "costs", "policy", "available", "expected_levels"}
        assert set(case["policy"]) == keys
        assert len(case["available"]) == len(case["expected_levels"])


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_vector(case):
    assert _levels(_policy(case), case["available"]) == case["expected_levels"]


class _UpgradesToLatest(BudgetPolicy):
    """Wrong on purpose: upgrades to the last level seen, not the smallest of the streak."""

    def _consider_upgrade(self, available):
        super()._consider_upgrade(available)
        if self.reason == "upgrade":
            self.current = self.fit(available, self.headroom_bytes)


class _NeverResetsStreak(BudgetPolicy):
    """Wrong on purpose: a reading without room for an upgrade keeps the streak."""

    def _consider_upgrade(self, available):
        streak = self._streak
        super()._consider_upgrade(available)
        if self._streak == 0 and self.reason is None:
            self._streak = streak


@pytest.mark.parametrize("policy_class, overrides", [
    (BudgetPolicy, {"upgrade_after": 1}),
    (BudgetPolicy, {"upgrade_after": 2}),
    (BudgetPolicy, {"headroom_bytes": 0}),
    (BudgetPolicy, {"margin_fraction": 0.0, "margin_bytes": 0}),
    (BudgetPolicy, {"margin_bytes": 0}),
    (BudgetPolicy, {"cap": None}),
    (BudgetPolicy, {"floor": None}),
    (_UpgradesToLatest, {}),
    (_NeverResetsStreak, {}),
], ids=["upgrade_on_1_reading", "upgrade_on_2_readings", "no_headroom", "no_margin",
        "no_margin_bytes", "no_cap", "no_floor", "upgrade_to_latest", "streak_never_reset"])
def test_vectors_catch_a_wrong_policy(policy_class, overrides):
    wrong = [case["name"] for case in CASES
             if _levels(_policy(case, policy_class, **overrides), case["available"])
             != case["expected_levels"]]
    assert wrong, "no vector detects this deviation from the spec"


def test_reason_of_each_change():
    case = next(c for c in CASES if c["name"].startswith("downgrade_is_immediate"))
    policy = _policy(case)
    reasons = []
    for available in case["available"]:
        policy.update(available)
        reasons.append(policy.reason)
    assert reasons == [None, "downgrade", None, None, "upgrade", None, "downgrade"]


def test_downgrade_when_already_at_floor_is_not_a_change():
    policy = BudgetPolicy({1: 1000, 2: 2000}, margin_fraction=0.0, floor=2)
    assert policy.update(500) == 2
    assert policy.update(100) == 2
    assert policy.reason is None


def test_need_and_fit():
    policy = BudgetPolicy({1: 1000, 2: 2000, 3: 4000}, margin_fraction=0.5, margin_bytes=100)
    assert policy.need(2) == pytest.approx(3100)
    assert policy.fit(3100) == 2
    assert policy.fit(3099) == 1
    assert policy.fit(10_000, extra=4000) == 2
    assert policy.fit(0) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"costs": {}}, "costs is empty"),
    ({"costs": {1: 10, 2: 20}, "cap": 1, "floor": 2}, "no level is allowed"),
    ({"costs": {1: 10, 2: 20}, "floor": 3}, "floor=3"),
    ({"costs": {0: 10}}, "levels >= 1"),
    ({"costs": {1: 10}, "upgrade_after": 0}, "upgrade_after must be >= 1, got 0"),
    ({"costs": {1: 10}, "margin_fraction": -0.1}, "margin_fraction must be >= 0, got -0.1"),
    ({"costs": {1: 10}, "headroom_bytes": -1}, "headroom_bytes must be >= 0, got -1"),
])
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BudgetPolicy(**kwargs)


JOINT_VECTORS = os.path.join(os.path.dirname(__file__), "fixtures", "joint_ladder_vectors.json")
with open(JOINT_VECTORS, encoding="utf-8") as _f:
    JOINT_CASES = json.load(_f)["cases"]


def _joint_policy(case):
    from dvn_runtime.multitask import JointPolicy

    costs = {task["name"]: {int(level): cost for level, cost in task["costs"].items()}
             for task in case["tasks"]}
    return JointPolicy(costs, **case["policy"])


@pytest.mark.parametrize("case", JOINT_CASES, ids=[c["name"] for c in JOINT_CASES])
def test_joint_ladder_vector(case):
    """The JS (web_demo/test/policy.test.js) and Java (JointPolicyVectorsTest) ports run these too."""
    names = [task["name"] for task in case["tasks"]]
    joint = _joint_policy(case)
    assert [[config[name] for name in names] for config in joint.ladder] == case["expected_ladder"]
    levels = [joint.update(available) for available in case["available"]]
    assert [[config[name] for name in names] for config in levels] == case["expected_levels"]
