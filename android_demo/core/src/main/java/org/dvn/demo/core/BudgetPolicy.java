package org.dvn.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Chooses the level to run from readings of available memory: downgrades at once, upgrades late.
 *
 * <p>This is the same algorithm as {@code dvn_runtime/policy.py}; both are checked against the
 * shared vectors in {@code tests/fixtures/policy_vectors.json}.
 *
 * <ul>
 *   <li>{@code need(level) = cost[level] * (1 + marginFraction) + marginBytes}.
 *   <li>{@code fit(available, extra)} is the largest allowed level with {@code need + extra <=
 *       available}, else the smallest allowed level.
 *   <li>The first reading picks {@code fit(available, 0)}. Later, if the current level's need
 *       exceeds the reading, it downgrades at once to {@code fit(available, 0)}. If instead
 *       {@code fit(available, headroomBytes)} is larger than the current level on {@code
 *       upgradeAfter} consecutive readings, it upgrades to the smallest such level seen during
 *       that streak.
 * </ul>
 *
 * <p>Not thread-safe: feed it readings from one thread.
 */
public final class BudgetPolicy {

  /** What the last reading did to the level. */
  public enum Change {
    /** The level stayed the same, or this was the first reading. */
    NONE,
    /** The current level no longer fit, so a smaller one was chosen. */
    DOWNGRADE,
    /** A larger level fit, with headroom, for enough consecutive readings. */
    UPGRADE
  }

  /** Policy parameters; immutable, changed with the {@code with...} methods. */
  public static final class Settings {
    private final double marginFraction;
    private final long marginBytes;
    private final long headroomBytes;
    private final int upgradeAfter;
    private final Integer cap;
    private final Integer floor;

    private Settings(
        double marginFraction,
        long marginBytes,
        long headroomBytes,
        int upgradeAfter,
        Integer cap,
        Integer floor) {
      this.marginFraction = marginFraction;
      this.marginBytes = marginBytes;
      this.headroomBytes = headroomBytes;
      this.upgradeAfter = upgradeAfter;
      this.cap = cap;
      this.floor = floor;
    }

    /** The defaults: margin 10 %, no margin bytes, no headroom, upgrade after 3, no cap/floor. */
    public static Settings defaults() {
      return new Settings(0.10, 0, 0, 3, null, null);
    }

    /** Extra fraction of a level's cost that it needs to be safe. */
    public Settings withMarginFraction(double value) {
      return new Settings(value, marginBytes, headroomBytes, upgradeAfter, cap, floor);
    }

    /** Extra bytes every level needs on top of its cost and margin fraction. */
    public Settings withMarginBytes(long value) {
      return new Settings(marginFraction, value, headroomBytes, upgradeAfter, cap, floor);
    }

    /** Extra free bytes required, beyond the need, before upgrading. */
    public Settings withHeadroomBytes(long value) {
      return new Settings(marginFraction, marginBytes, value, upgradeAfter, cap, floor);
    }

    /** Consecutive readings with room for a larger level required to upgrade (1 = at once). */
    public Settings withUpgradeAfter(int value) {
      return new Settings(marginFraction, marginBytes, headroomBytes, value, cap, floor);
    }

    /** Highest level allowed (inclusive), or null for no limit. */
    public Settings withCap(Integer level) {
      return new Settings(marginFraction, marginBytes, headroomBytes, upgradeAfter, level, floor);
    }

    /** Lowest level allowed (inclusive), or null for no limit. */
    public Settings withFloor(Integer level) {
      return new Settings(marginFraction, marginBytes, headroomBytes, upgradeAfter, cap, level);
    }

    @Override
    public String toString() {
      return "margin_fraction="
          + marginFraction
          + ", margin_bytes="
          + marginBytes
          + ", headroom_bytes="
          + headroomBytes
          + ", upgrade_after="
          + upgradeAfter
          + ", cap="
          + cap
          + ", floor="
          + floor;
    }
  }

  private final SortedMap<Integer, Long> costs;
  private final Settings settings;
  private final List<Integer> allowedLevels;

  private int current; // 0 before the first reading
  private Change lastChange = Change.NONE;
  private int streak;
  private int pending;

  /**
   * Creates a policy.
   *
   * @param costs memory cost in bytes of each level (1-based), e.g. the manifest's arena_bytes
   * @throws IllegalArgumentException if a cost or setting is out of range, or if no level lies
   *     within [floor, cap]
   */
  public BudgetPolicy(Map<Integer, Long> costs, Settings settings) {
    if (costs.isEmpty()) {
      throw new IllegalArgumentException("costs is empty: need at least one level.");
    }
    for (Map.Entry<Integer, Long> entry : costs.entrySet()) {
      if (entry.getKey() < 1 || entry.getValue() < 0) {
        throw new IllegalArgumentException(
            "costs must map levels >= 1 to bytes >= 0, got "
                + entry.getKey()
                + ": "
                + entry.getValue()
                + ".");
      }
    }
    requireNonNegative("margin_fraction", settings.marginFraction);
    requireNonNegative("margin_bytes", settings.marginBytes);
    requireNonNegative("headroom_bytes", settings.headroomBytes);
    if (settings.upgradeAfter < 1) {
      throw new IllegalArgumentException(
          "upgrade_after must be >= 1, got " + settings.upgradeAfter + ".");
    }
    this.costs = Collections.unmodifiableSortedMap(new TreeMap<>(costs));
    this.settings = settings;
    List<Integer> allowed = new ArrayList<>();
    for (int level : this.costs.keySet()) {
      if ((settings.floor == null || level >= settings.floor)
          && (settings.cap == null || level <= settings.cap)) {
        allowed.add(level);
      }
    }
    if (allowed.isEmpty()) {
      throw new IllegalArgumentException(
          "no level is allowed: levels "
              + this.costs.keySet()
              + ", floor="
              + settings.floor
              + ", cap="
              + settings.cap
              + ".");
    }
    this.allowedLevels = Collections.unmodifiableList(allowed);
  }

  /** Bytes that must be available to run {@code level}, margins included. */
  public double need(int level) {
    Long cost = costs.get(level);
    if (cost == null) {
      throw new IllegalArgumentException("unknown level " + level + "; levels: " + costs.keySet());
    }
    return cost * (1 + settings.marginFraction) + settings.marginBytes;
  }

  /** The largest allowed level with {@code need + extra <= available}, else the smallest. */
  public int fit(long available, long extra) {
    int chosen = allowedLevels.get(0);
    for (int level : allowedLevels) {
      if (need(level) + extra <= available) {
        chosen = level;
      }
    }
    return chosen;
  }

  /** Feeds one reading of available bytes and returns the level to use from now on. */
  public int update(long available) {
    int previous = current;
    lastChange = Change.NONE;
    if (previous == 0) {
      current = fit(available, 0);
      streak = 0;
    } else if (need(previous) > available) {
      current = fit(available, 0);
      streak = 0;
      if (current != previous) {
        lastChange = Change.DOWNGRADE;
      }
    } else {
      considerUpgrade(available);
    }
    return current;
  }

  private void considerUpgrade(long available) {
    int up = fit(available, settings.headroomBytes);
    if (up <= current) {
      streak = 0;
      return;
    }
    pending = streak == 0 ? up : Math.min(pending, up);
    streak++;
    if (streak >= settings.upgradeAfter) {
      current = pending;
      streak = 0;
      lastChange = Change.UPGRADE;
    }
  }

  /** What the last {@link #update} did to the level. */
  public Change lastChange() {
    return lastChange;
  }

  private static void requireNonNegative(String name, double value) {
    if (!(value >= 0)) {
      throw new IllegalArgumentException(name + " must be >= 0, got " + value + ".");
    }
  }

  private static void requireNonNegative(String name, long value) {
    if (value < 0) {
      throw new IllegalArgumentException(name + " must be >= 0, got " + value + ".");
    }
  }
}
