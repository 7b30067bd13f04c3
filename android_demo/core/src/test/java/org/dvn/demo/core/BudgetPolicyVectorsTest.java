package org.dvn.demo.core;

import static org.junit.Assert.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;
import org.junit.runners.Parameterized.Parameters;

/**
 * Runs every case of the shared fixture {@code tests/fixtures/policy_vectors.json}, which the
 * Python twin in {@code dvn_runtime} is checked against too. The fixture's path comes from the
 * system property {@code dvn.policyVectors} (set by run-jvm-tests.sh and by Gradle).
 */
@RunWith(Parameterized.class)
public class BudgetPolicyVectorsTest {
  private final Map<?, ?> testCase;

  public BudgetPolicyVectorsTest(String name, Map<?, ?> testCase) {
    this.testCase = testCase;
  }

  @Parameters(name = "{0}")
  public static Collection<Object[]> cases() throws IOException, JsonException {
    String property = System.getProperty("dvn.policyVectors");
    if (property == null) {
      throw new IllegalStateException(
          "system property dvn.policyVectors is not set: run android_demo/run-jvm-tests.sh or"
              + " 'gradle :core:test', which point it at tests/fixtures/policy_vectors.json.");
    }
    Path path = Paths.get(property);
    Map<?, ?> root =
        (Map<?, ?>) Json.parse(new String(Files.readAllBytes(path), StandardCharsets.UTF_8));
    assertEquals("fixture format", 1L, root.get("format"));
    List<Object[]> cases = new ArrayList<>();
    for (Object item : (List<?>) root.get("cases")) {
      Map<?, ?> testCase = (Map<?, ?>) item;
      cases.add(new Object[] {testCase.get("name"), testCase});
    }
    return cases;
  }

  @Test
  public void levelsMatchTheSharedVectors() {
    Map<Integer, Long> costs = new TreeMap<>();
    for (Map.Entry<?, ?> entry : ((Map<?, ?>) testCase.get("costs")).entrySet()) {
      costs.put(Integer.parseInt((String) entry.getKey()), (Long) entry.getValue());
    }
    Map<?, ?> policy = (Map<?, ?>) testCase.get("policy");
    BudgetPolicy.Settings settings =
        BudgetPolicy.Settings.defaults()
            .withMarginFraction(((Number) policy.get("margin_fraction")).doubleValue())
            .withMarginBytes((Long) policy.get("margin_bytes"))
            .withHeadroomBytes((Long) policy.get("headroom_bytes"))
            .withUpgradeAfter(((Long) policy.get("upgrade_after")).intValue())
            .withCap(levelOrNull(policy.get("cap")))
            .withFloor(levelOrNull(policy.get("floor")));
    BudgetPolicy budgetPolicy = new BudgetPolicy(costs, settings);

    List<Long> levels = new ArrayList<>();
    for (Object available : (List<?>) testCase.get("available")) {
      levels.add((long) budgetPolicy.update((Long) available));
    }
    assertEquals(testCase.get("expected_levels"), levels);
  }

  private static Integer levelOrNull(Object value) {
    return value == null ? null : ((Long) value).intValue();
  }
}
