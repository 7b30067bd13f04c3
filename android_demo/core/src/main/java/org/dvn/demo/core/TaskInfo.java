package org.dvn.demo.core;

import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** One task of the manifest: its classes, its input and its models by level (1..N). */
public final class TaskInfo {
  private final String name;
  private final List<String> labels;
  private final InputSpec input;
  private final List<ModelInfo> modelsByLevel;

  /** Creates a task; {@link ManifestReader} has checked that levels run 1..N in order. */
  TaskInfo(String name, List<String> labels, InputSpec input, List<ModelInfo> modelsByLevel) {
    this.name = name;
    this.labels = Collections.unmodifiableList(labels);
    this.input = input;
    this.modelsByLevel = Collections.unmodifiableList(modelsByLevel);
  }

  /** The task's name. */
  public String name() {
    return name;
  }

  /** Number of classes, equal to the number of labels. */
  public int numClasses() {
    return labels.size();
  }

  /** Class names in logit order. */
  public List<String> labels() {
    return labels;
  }

  /** The input the task's models expect. */
  public InputSpec input() {
    return input;
  }

  /** The models, ordered by level: element i is level i + 1. */
  public List<ModelInfo> models() {
    return modelsByLevel;
  }

  /** The model of {@code level} (1-based). */
  public ModelInfo model(int level) {
    if (level < 1 || level > modelsByLevel.size()) {
      throw new IllegalArgumentException(
          "task '" + name + "' has levels 1.." + modelsByLevel.size() + ", not " + level);
    }
    return modelsByLevel.get(level - 1);
  }

  /** Each level's arena_bytes: the costs a {@link BudgetPolicy} chooses between. */
  public Map<Integer, Long> arenaBytesByLevel() {
    Map<Integer, Long> costs = new TreeMap<>();
    for (ModelInfo model : modelsByLevel) {
      costs.put(model.level(), model.arenaBytes());
    }
    return costs;
  }
}
