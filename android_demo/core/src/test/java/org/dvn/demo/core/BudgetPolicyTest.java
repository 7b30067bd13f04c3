package org.dvn.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Map;
import java.util.TreeMap;
import org.junit.Test;

public class BudgetPolicyTest {
  private static final Map<Integer, Long> COSTS = Map.of(1, 1000L, 2, 2000L, 3, 4000L);

  @Test
  public void reportsWhatEachReadingChanged() {
    BudgetPolicy policy =
        new BudgetPolicy(COSTS, BudgetPolicy.Settings.defaults().withUpgradeAfter(2));
    assertEquals(3, policy.update(10_000));
    assertEquals(BudgetPolicy.Change.NONE, policy.lastChange());
    assertEquals(1, policy.update(1_500));
    assertEquals(BudgetPolicy.Change.DOWNGRADE, policy.lastChange());
    assertEquals(1, policy.update(10_000));
    assertEquals(BudgetPolicy.Change.NONE, policy.lastChange());
    assertEquals(3, policy.update(10_000));
    assertEquals(BudgetPolicy.Change.UPGRADE, policy.lastChange());
  }

  @Test
  public void staysOnTheSmallestLevelWhenNothingFitsWithoutReportingADowngrade() {
    BudgetPolicy policy = new BudgetPolicy(COSTS, BudgetPolicy.Settings.defaults());
    assertEquals(1, policy.update(10));
    assertEquals(1, policy.update(5));
    assertEquals(BudgetPolicy.Change.NONE, policy.lastChange());
  }

  @Test
  public void defaultMarginIsTenPercent() {
    BudgetPolicy policy = new BudgetPolicy(COSTS, BudgetPolicy.Settings.defaults());
    assertEquals(2200.0, policy.need(2), 1e-9);
    assertEquals(1, policy.fit(2199, 0));
    assertEquals(2, policy.fit(2200, 0));
    assertEquals(1, policy.fit(2200, 1));
  }

  @Test
  public void levelsNeedNotBeContiguous() {
    Map<Integer, Long> costs = new TreeMap<>(Map.of(2, 2000L, 5, 5000L));
    BudgetPolicy policy =
        new BudgetPolicy(costs, BudgetPolicy.Settings.defaults().withMarginFraction(0));
    assertEquals(5, policy.update(6000));
    assertEquals(2, policy.update(4000));
  }

  @Test
  public void rejectsInvalidArgumentsWithTheValues() {
    BudgetPolicy.Settings defaults = BudgetPolicy.Settings.defaults();
    assertRejected(Map.of(), defaults, "costs is empty");
    assertRejected(Map.of(0, 10L), defaults, "got 0: 10");
    assertRejected(Map.of(1, -1L), defaults, "got 1: -1");
    assertRejected(COSTS, defaults.withMarginFraction(-0.5), "margin_fraction must be >= 0");
    assertRejected(COSTS, defaults.withMarginFraction(Double.NaN), "got NaN");
    assertRejected(COSTS, defaults.withMarginBytes(-1), "margin_bytes must be >= 0, got -1.");
    assertRejected(COSTS, defaults.withHeadroomBytes(-2), "headroom_bytes must be >= 0");
    assertRejected(COSTS, defaults.withUpgradeAfter(0), "upgrade_after must be >= 1, got 0");
    assertRejected(
        COSTS, defaults.withFloor(3).withCap(2), "no level is allowed: levels [1, 2, 3], floor=3");
    assertRejected(COSTS, defaults.withFloor(4), "no level is allowed");
  }

  @Test
  public void needOfAnUnknownLevelIsAnError() {
    BudgetPolicy policy = new BudgetPolicy(COSTS, BudgetPolicy.Settings.defaults());
    assertThrows(IllegalArgumentException.class, () -> policy.need(9));
  }

  private static void assertRejected(
      Map<Integer, Long> costs, BudgetPolicy.Settings settings, String expectedPart) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> new BudgetPolicy(costs, settings));
    assertTrue(
        "message '" + e.getMessage() + "' should contain '" + expectedPart + "'",
        e.getMessage().contains(expectedPart));
  }
}
