package org.dvn.demo.core;

import java.io.IOException;

/**
 * Makes a {@link ModelSwitcher} follow a {@link BudgetPolicy} for one task: each memory reading
 * goes to the policy, and when its level differs from the model being served, the switcher loads
 * that level's model.
 *
 * <p>Feed it readings from one thread (the policy is not thread-safe); inferences may run on the
 * switcher from other threads meanwhile.
 */
public final class LevelController {
  private final TaskInfo task;
  private final BudgetPolicy policy;
  private final ModelSwitcher switcher;

  /**
   * Creates a controller; the first reading picks the level (reason "initial", or "task" when
   * the switcher is serving another task's model).
   *
   * @throws IllegalArgumentException if the settings leave no level of the task allowed
   */
  public LevelController(TaskInfo task, BudgetPolicy.Settings settings, ModelSwitcher switcher) {
    this.task = task;
    this.policy = new BudgetPolicy(task.arenaBytesByLevel(), settings);
    this.switcher = switcher;
  }

  /** The task whose models this controller chooses between. */
  public TaskInfo task() {
    return task;
  }

  /**
   * Feeds one reading of available memory and switches model if the chosen level changed.
   *
   * @return the switch made, or null if the served model stays
   * @throws IOException if the chosen model cannot be loaded; the served model stays, and a later
   *     reading tries again
   */
  public SwitchEvent onReading(long availableBytes) throws IOException {
    int level = policy.update(availableBytes);
    return switcher.switchTo(task.model(level), reason(policy.lastChange()));
  }

  private String reason(BudgetPolicy.Change change) {
    switch (change) {
      case DOWNGRADE:
        return "downgrade";
      case UPGRADE:
        return "upgrade";
      case NONE:
      default:
        ModelInfo serving = switcher.currentModel();
        if (serving == null) {
          return "initial";
        }
        // Same level as before: either another task was served, or an earlier load failed.
        return serving.task().equals(task.name()) ? "retry" : "task";
    }
  }
}
