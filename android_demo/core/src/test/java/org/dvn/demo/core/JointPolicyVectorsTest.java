package org.dvn.demo.core;

import static org.junit.Assert.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.Test;
import org.junit.runner.RunWith;
import org.junit.runners.Parameterized;
import org.junit.runners.Parameterized.Parameters;

/**
 * Runs every case of {@code tests/fixtures/joint_ladder_vectors.json}, which dvn_runtime's
 * JointPolicy and the web demo's pass too. The fixture's path comes from the system property
 * {@code dvn.jointVectors} (set by run-jvm-tests.sh and by Gradle).
 */
@RunWith(Parameterized.class)
public class JointPolicyVectorsTest {
  private final Map<?, ?> testCase;

  public JointPolicyVectorsTest(String name, Map<?, ?> testCase) {
    this.testCase = testCase;
  }

  @Parameters(name = "{0}")
  public static Collection<Object[]> cases() throws IOException, JsonException {
    String property = System.getProperty("dvn.jointVectors");
    if (property == null) {
      throw new IllegalStateException("system property dvn.jointVectors is not set: run"
          + " android_demo/run-jvm-tests.sh or 'gradle :core:test', which point it at"
          + " tests/fixtures/joint_ladder_vectors.json.");
    }
    Map<?, ?> root = (Map<?, ?>) Json.parse(
        new String(Files.readAllBytes(Paths.get(property)), StandardCharsets.UTF_8));
    assertEquals("fixture format", 1L, root.get("format"));
    List<Object[]> cases = new ArrayList<>();
    for (Object item : (List<?>) root.get("cases")) {
      cases.add(new Object[] {((Map<?, ?>) item).get("name"), item});
    }
    return cases;
  }

  @Test
  public void ladderAndLevelsMatchTheSharedVectors() {
    LinkedHashMap<String, Map<Integer, Long>> costs = new LinkedHashMap<>();
    for (Object item : (List<?>) testCase.get("tasks")) {
      Map<?, ?> task = (Map<?, ?>) item;
      Map<Integer, Long> levels = new TreeMap<>();
      for (Map.Entry<?, ?> entry : ((Map<?, ?>) task.get("costs")).entrySet()) {
        levels.put(Integer.parseInt((String) entry.getKey()), (Long) entry.getValue());
      }
      costs.put((String) task.get("name"), levels);
    }
    Map<?, ?> policy = (Map<?, ?>) testCase.get("policy");
    JointPolicy joint = new JointPolicy(costs, BudgetPolicy.Settings.defaults()
        .withMarginFraction(((Number) policy.get("margin_fraction")).doubleValue())
        .withMarginBytes((Long) policy.get("margin_bytes"))
        .withHeadroomBytes((Long) policy.get("headroom_bytes"))
        .withUpgradeAfter(((Long) policy.get("upgrade_after")).intValue()));
    List<List<Long>> ladder = new ArrayList<>();
    for (Map<String, Integer> config : joint.ladder()) {
      ladder.add(inTaskOrder(costs, config));
    }
    assertEquals(testCase.get("expected_ladder"), ladder);
    List<List<Long>> levels = new ArrayList<>();
    for (Object available : (List<?>) testCase.get("available")) {
      levels.add(inTaskOrder(costs, joint.update((Long) available)));
    }
    assertEquals(testCase.get("expected_levels"), levels);
  }

  private static List<Long> inTaskOrder(Map<String, ?> tasks, Map<String, Integer> config) {
    List<Long> levels = new ArrayList<>();
    for (String task : tasks.keySet()) {
      levels.add((long) config.get(task));
    }
    return levels;
  }
}
