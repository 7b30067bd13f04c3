"""Units, virtual-network orders and the channel sets of every (task, level).

A layer of width C is split into k disjoint channel groups; unit i is group i
of every layer. Task j's virtual network is an order of the units; its level l
uses the groups of the first l units of that order (METHOD.md).
Units are 1-based (as in the paper), task indices 0-based, levels 1-based.
"""

import functools

ORDER_RULES = ("nearest", "cyclic")


def nearest_order(task_unit, k):
    """Order starting at `task_unit`, then the unused unit with the nearest ID (ties to the lower)."""
    order = [task_unit]
    while len(order) < k:
        unused = [u for u in range(1, k + 1) if u not in order]
        order.append(min(unused, key=lambda u: (abs(u - task_unit), u)))
    return order


def cyclic_order(task_unit, k):
    """Order task_unit, task_unit + 1, ..., k, 1, ..., task_unit - 1."""
    return [(task_unit - 1 + step) % k + 1 for step in range(k)]


def virtual_network_orders(num_tasks, k, rule="nearest"):
    """One order of the k units per task; task j (0-based) starts with unit (j mod k) + 1.

    Tasks beyond the k-th (a task added to a finished run, docs/choices.md)
    start again at unit 1, so task j's order is task (j - k)'s.
    """
    if rule not in ORDER_RULES:
        raise ValueError(f"order rule must be one of {ORDER_RULES}, got {rule!r}")
    if num_tasks < 1 or k < 1:
        raise ValueError(f"need num_tasks >= 1 and units >= 1, got num_tasks={num_tasks}, "
                         f"units={k}")
    make = nearest_order if rule == "nearest" else cyclic_order
    return [make(task % k + 1, k) for task in range(num_tasks)]


def group_sizes(width, k, fractions=None, multiple=1):
    """Channels per unit in a layer of `width`; equal split or given fractions, summing to width.

    With `multiple` > 1, the split is made in blocks of `multiple` channels, so
    every unit's share is a multiple of it, where the width allows: `width` is
    a multiple of `multiple` and every unit gets at least one block. Elsewhere
    the split is by channels, as with `multiple` = 1.
    """
    if multiple > 1 and width % multiple == 0 and width // multiple >= k:
        try:
            return [size * multiple for size in group_sizes(width // multiple, k, fractions)]
        except ValueError:  # the fractions leave a unit without a block: split by channels
            pass
    if k < 1 or width < k:
        raise ValueError(f"need 1 <= units <= width, got units={k}, width={width}")
    if fractions is None:
        return [width // k + (1 if i < width % k else 0) for i in range(k)]
    fractions = [float(f) for f in fractions]
    if len(fractions) != k or min(fractions) <= 0:
        raise ValueError(
            f"fractions must be {k} positive numbers, got {fractions}")
    total = sum(fractions)
    bounds = [round(width * sum(fractions[:i + 1]) / total) for i in range(k)]
    sizes = [b - a for a, b in zip([0] + bounds[:-1], bounds)]
    if min(sizes) < 1:
        raise ValueError(
            f"fractions {fractions} leave a unit with no channel in a layer of width {width}")
    return sizes


class UnitPlan:
    """The units and orders of a DVN: answers which channels a (task, level) uses.

    Args:
      units: k, the number of units (and of levels).
      orders: one order (a permutation of 1..k) per task.
      fractions: optional relative sizes of the units; equal when None.
      multiple: split every layer in blocks of this many channels where its
        width allows (see `group_sizes`); 1 splits by channels.
    """

    def __init__(self, units, orders, fractions=None, multiple=1):
        self.units = int(units)
        self.multiple = int(multiple)
        if self.multiple < 1:
            raise ValueError(f"multiple must be a positive int, got {multiple!r}")
        self.orders = [list(map(int, order)) for order in orders]
        self.fractions = None if fractions is None else [float(f) for f in fractions]
        for order in self.orders:
            if sorted(order) != list(range(1, self.units + 1)):
                raise ValueError(
                    f"each order must be a permutation of 1..{self.units}, got {order}")
        if self.fractions is not None and (
                len(self.fractions) != self.units or min(self.fractions) <= 0):
            raise ValueError(
                f"fractions must be {self.units} positive numbers, got {self.fractions}")

    @classmethod
    def from_rule(cls, num_tasks, units, rule="nearest", fractions=None, multiple=1):
        """The plan for `num_tasks` tasks under an order rule of METHOD.md."""
        return cls(units, virtual_network_orders(num_tasks, units, rule), fractions, multiple)

    @property
    def num_tasks(self):
        return len(self.orders)

    def check(self, task, level):
        """Raise a ValueError unless (task, level) exists in this plan."""
        if not (isinstance(task, int) and 0 <= task < self.num_tasks):
            raise ValueError(
                f"task must be an int in [0, {self.num_tasks}), got {task!r}")
        if not (isinstance(level, int) and 1 <= level <= self.units):
            raise ValueError(
                f"level must be an int in [1, {self.units}], got {level!r}")

    def level_units(self, task, level):
        """The unit IDs (1-based) of task's level, in order."""
        self.check(task, level)
        return self.orders[task][:level]

    def unit_channels(self, width):
        """Channel indices of each unit (1-based key) in a layer of `width`."""
        return _unit_channels(width, self.units, _freeze(self.fractions), self.multiple)

    def channels(self, width, task, level):
        """Sorted channel indices that (task, level) uses in a layer of `width`."""
        groups = self.unit_channels(width)
        return tuple(sorted(c for u in self.level_units(task, level) for c in groups[u]))

    def first_level(self, task, unit):
        """l_j(i): the level at which `unit` first appears in `task`'s order."""
        return self.orders[task].index(unit) + 1

    def significance(self):
        """k x k table [task][unit - 1]: levels of the task that train the unit (k - l_j(i) + 1)."""
        return [[self.units - self.first_level(task, unit) + 1
                 for unit in range(1, self.units + 1)]
                for task in range(self.num_tasks)]

    def get_config(self):
        return {"units": self.units, "orders": self.orders, "fractions": self.fractions,
                "multiple": self.multiple}

    def __eq__(self, other):
        return isinstance(other, UnitPlan) and self.get_config() == other.get_config()

    def __repr__(self):
        return f"UnitPlan({self.get_config()})"


def _freeze(fractions):
    return None if fractions is None else tuple(fractions)


@functools.lru_cache(maxsize=None)
def _unit_channels(width, k, fractions, multiple):
    sizes = group_sizes(width, k, fractions, multiple)
    starts = [sum(sizes[:i]) for i in range(k)]
    return {u + 1: tuple(range(starts[u], starts[u] + sizes[u])) for u in range(k)}


def format_significance(plan, task_names):
    """The significance table as aligned text, one row per task."""
    header = ["task"] + [f"unit {u}" for u in range(1, plan.units + 1)]
    rows = [[name] + [str(v) for v in row]
            for name, row in zip(task_names, plan.significance())]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(r, widths))
                     for r in [header] + rows)
