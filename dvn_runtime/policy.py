"""Budget policy: which level to run given the memory available now.

This is the same algorithm as the Android app's Java policy; both are checked
against the shared vectors in ``tests/fixtures/policy_vectors.json``.
"""

DOWNGRADE = "downgrade"
UPGRADE = "upgrade"


class BudgetPolicy:
    """Chooses a level from memory readings: downgrades at once, upgrades late.

    Args:
      costs: mapping level (1-based int) -> memory cost in bytes (the
        manifest's ``arena_bytes``).
      margin_fraction: extra fraction of the cost a level needs to be safe.
      margin_bytes: extra bytes every level needs on top of that.
      headroom_bytes: extra free bytes required before upgrading.
      upgrade_after: consecutive readings with room for a larger level that
        are required before upgrading (1 = upgrade at once).
      cap: highest level allowed (inclusive), or None.
      floor: lowest level allowed (inclusive), or None.

    ``need(level) = cost * (1 + margin_fraction) + margin_bytes``. The first
    reading picks the largest allowed level that fits. Later, if the current
    level no longer fits, it downgrades at once to the largest level that
    fits. If a larger level fits even with ``headroom_bytes`` to spare for
    ``upgrade_after`` consecutive readings, it upgrades to the smallest such
    larger level seen during that streak. When nothing fits, the smallest
    allowed level is used.
    """

    def __init__(self, costs, margin_fraction=0.10, margin_bytes=0,
                 headroom_bytes=0, upgrade_after=3, cap=None, floor=None):
        if not costs:
            raise ValueError("costs is empty: need at least one level.")
        for level, cost in costs.items():
            if not isinstance(level, int) or level < 1 or cost < 0:
                raise ValueError(
                    f"costs must map levels >= 1 to bytes >= 0, got {level!r}: {cost!r}.")
        for name, value in (("margin_fraction", margin_fraction),
                            ("margin_bytes", margin_bytes),
                            ("headroom_bytes", headroom_bytes)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value!r}.")
        if upgrade_after < 1:
            raise ValueError(f"upgrade_after must be >= 1, got {upgrade_after!r}.")
        self.allowed_levels = sorted(
            level for level in costs
            if (floor is None or level >= floor) and (cap is None or level <= cap))
        if not self.allowed_levels:
            raise ValueError(
                f"no level is allowed: levels {sorted(costs)}, floor={floor!r}, cap={cap!r}.")
        self.costs = dict(costs)
        self.margin_fraction = margin_fraction
        self.margin_bytes = margin_bytes
        self.headroom_bytes = headroom_bytes
        self.upgrade_after = upgrade_after
        self.current = None
        self.reason = None
        self._streak = 0
        self._pending = None

    def need(self, level):
        """Bytes that must be available to run `level`, margins included."""
        return self.costs[level] * (1 + self.margin_fraction) + self.margin_bytes

    def fit(self, available, extra=0):
        """Largest allowed level with need + extra <= available, else the smallest."""
        fitting = [level for level in self.allowed_levels
                   if self.need(level) + extra <= available]
        return fitting[-1] if fitting else self.allowed_levels[0]

    def update(self, available):
        """Feeds one reading of available bytes; returns the level to use now.

        Afterwards ``reason`` is "downgrade" or "upgrade" if this reading
        changed the level from a previous one, else None (also on the first
        reading).
        """
        previous = self.current
        self.reason = None
        if previous is None:
            self.current = self.fit(available)
            self._streak = 0
        elif self.need(previous) > available:
            self.current = self.fit(available)
            self._streak = 0
            if self.current != previous:
                self.reason = DOWNGRADE
        else:
            self._consider_upgrade(available)
        return self.current

    def _consider_upgrade(self, available):
        up = self.fit(available, self.headroom_bytes)
        if up <= self.current:
            self._streak = 0
            return
        self._pending = up if self._streak == 0 else min(self._pending, up)
        self._streak += 1
        if self._streak >= self.upgrade_after:
            self.current = self._pending
            self._streak = 0
            self.reason = UPGRADE
