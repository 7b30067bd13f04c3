package org.dvn.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A {@link BudgetPolicy} over the joint ladder of several tasks under one memory budget: each
 * reading gives the level of every task.
 *
 * <p>The ladder goes from every task at its lowest level to every task at its top level, each
 * step raising one task by one level, the task that is lowest in its own levels first (ties: the
 * order the tasks were given); a step costs the sum of its levels' costs. The same algorithm as
 * {@code dvn_runtime/multitask.py} and the web demo's {@code policy.js}; all three pass {@code
 * tests/fixtures/joint_ladder_vectors.json}. Not thread-safe: feed it readings from one thread.
 */
public final class JointPolicy {
  private final List<Map<String, Integer>> ladder;
  private final BudgetPolicy policy;

  /**
   * Creates a policy.
   *
   * @param costs each task's levels (those it may use) and their memory costs in bytes, tasks in
   *     priority order for ties on the ladder
   * @param settings the BudgetPolicy's margins and upgrade rule, over the ladder's steps
   * @throws IllegalArgumentException if there is no task, or a task has no level
   */
  public JointPolicy(LinkedHashMap<String, ? extends Map<Integer, Long>> costs,
      BudgetPolicy.Settings settings) {
    LinkedHashMap<String, List<Integer>> levels = new LinkedHashMap<>();
    for (Map.Entry<String, ? extends Map<Integer, Long>> entry : costs.entrySet()) {
      levels.put(entry.getKey(), new ArrayList<>(new TreeMap<>(entry.getValue()).keySet()));
    }
    ladder = jointLadder(levels);
    Map<Integer, Long> stepCosts = new TreeMap<>();
    for (int step = 1; step <= ladder.size(); step++) {
      long sum = 0;
      for (Map.Entry<String, Integer> entry : ladder.get(step - 1).entrySet()) {
        sum += costs.get(entry.getKey()).get(entry.getValue());
      }
      stepCosts.put(step, sum);
    }
    policy = new BudgetPolicy(stepCosts, settings);
  }

  /**
   * The joint ladder of {@code levels} (each task's levels, ascending, tasks in priority order):
   * from every task's lowest level to every task's top one, one task raised by one level a step.
   */
  public static List<Map<String, Integer>> jointLadder(LinkedHashMap<String, List<Integer>> levels) {
    if (levels.isEmpty() || levels.values().stream().anyMatch(List::isEmpty)) {
      throw new IllegalArgumentException("every task needs a level, got " + levels + ".");
    }
    Map<String, Integer> positions = new LinkedHashMap<>();
    Map<String, Integer> config = new LinkedHashMap<>();
    for (Map.Entry<String, List<Integer>> entry : levels.entrySet()) {
      positions.put(entry.getKey(), 0);
      config.put(entry.getKey(), entry.getValue().get(0));
    }
    List<Map<String, Integer>> ladder = new ArrayList<>();
    ladder.add(Collections.unmodifiableMap(new LinkedHashMap<>(config)));
    for (;;) {
      String lowest = null;
      for (Map.Entry<String, List<Integer>> entry : levels.entrySet()) {
        int position = positions.get(entry.getKey());
        if (position < entry.getValue().size() - 1
            && (lowest == null || position < positions.get(lowest))) {
          lowest = entry.getKey();
        }
      }
      if (lowest == null) {
        return Collections.unmodifiableList(ladder);
      }
      positions.put(lowest, positions.get(lowest) + 1);
      config.put(lowest, levels.get(lowest).get(positions.get(lowest)));
      ladder.add(Collections.unmodifiableMap(new LinkedHashMap<>(config)));
    }
  }

  /** The ladder's steps, lowest first: each task's level, in the tasks' order. */
  public List<Map<String, Integer>> ladder() {
    return ladder;
  }

  /** The policy over the ladder's steps (1-based): its need, fit and last change. */
  public BudgetPolicy stepPolicy() {
    return policy;
  }

  /** Feeds one reading of available bytes; returns every task's level to serve from now on. */
  public Map<String, Integer> update(long available) {
    return ladder.get(policy.update(available) - 1);
  }
}
