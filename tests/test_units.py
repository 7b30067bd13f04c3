"""Orders, channel groups, level channel sets and the significance table."""

import pytest

from dvn_tf.units import UnitPlan, group_sizes, virtual_network_orders


@pytest.mark.parametrize("k, rule, expected", [
    (2, "nearest", [[1, 2], [2, 1]]),
    (2, "cyclic", [[1, 2], [2, 1]]),
    (3, "nearest", [[1, 2, 3], [2, 1, 3], [3, 2, 1]]),
    (3, "cyclic", [[1, 2, 3], [2, 3, 1], [3, 1, 2]]),
    (4, "nearest", [[1, 2, 3, 4], [2, 1, 3, 4], [3, 2, 4, 1], [4, 3, 2, 1]]),
    (4, "cyclic", [[1, 2, 3, 4], [2, 3, 4, 1], [3, 4, 1, 2], [4, 1, 2, 3]]),
])
def test_order_tables(k, rule, expected):
    assert virtual_network_orders(k, k, rule) == expected


@pytest.mark.parametrize("rule", ["nearest", "cyclic"])
def test_tasks_beyond_the_kth_start_again_at_unit_one(rule):
    # A task added to a finished run of k tasks (python -m dvn_tf.train --from=RUN).
    orders = virtual_network_orders(7, 3, rule)
    assert orders[:3] == virtual_network_orders(3, 3, rule)
    assert orders[3:6] == orders[:3] and orders[6] == orders[0]
    with pytest.raises(ValueError, match="num_tasks=0"):
        virtual_network_orders(0, 3, rule)


def test_cyclic_gives_every_unit_the_same_number_of_memberships():
    plan = UnitPlan.from_rule(4, 4, "cyclic")
    totals = [sum(row[u] for row in plan.significance()) for u in range(4)]
    assert len(set(totals)) == 1


def test_group_sizes_equal_and_fractional():
    assert group_sizes(10, 3) == [4, 3, 3]
    assert group_sizes(16, 2, [1, 3]) == [4, 12]
    assert sum(group_sizes(37, 4, [0.1, 0.2, 0.3, 0.4])) == 37
    with pytest.raises(ValueError, match="units=3, width=2"):
        group_sizes(2, 3)


def test_level_channels_are_sorted_static_and_non_prefix():
    plan = UnitPlan.from_rule(3, 3, "nearest")
    assert plan.channels(9, task=2, level=1) == (6, 7, 8)
    assert plan.channels(9, task=2, level=2) == (3, 4, 5, 6, 7, 8)
    assert plan.channels(9, task=1, level=2) == (0, 1, 2, 3, 4, 5)
    assert plan.channels(9, task=0, level=3) == tuple(range(9))
    assert plan.level_units(2, 2) == [3, 2]


def test_significance_table():
    plan = UnitPlan.from_rule(4, 4, "nearest")
    assert plan.significance() == [[4, 3, 2, 1], [3, 4, 2, 1], [1, 3, 4, 2], [1, 2, 3, 4]]


@pytest.mark.parametrize("task, level", [(2, 1), (0, 0), (0, 3), ("0", 1)])
def test_bad_task_or_level_is_refused(task, level):
    with pytest.raises(ValueError, match="got"):
        UnitPlan.from_rule(2, 2).check(task, level)


def test_bad_orders_and_rules_are_refused():
    with pytest.raises(ValueError, match=r"permutation of 1..2, got \[1, 1\]"):
        UnitPlan(2, [[1, 1]])
    with pytest.raises(ValueError, match="'spiral'"):
        virtual_network_orders(2, 2, "spiral")
