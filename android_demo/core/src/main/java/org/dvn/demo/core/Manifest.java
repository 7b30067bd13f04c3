package org.dvn.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** A parsed and checked manifest.json of one export: its tasks and their models. */
public final class Manifest {
  /** The manifest format this code reads. */
  public static final int FORMAT = 1;

  private final String scenario;
  private final List<TaskInfo> tasks;

  /** Creates a manifest; {@link ManifestReader} has checked its consistency. */
  Manifest(String scenario, List<TaskInfo> tasks) {
    this.scenario = scenario;
    this.tasks = Collections.unmodifiableList(tasks);
  }

  /** Name of the training scenario the models come from. */
  public String scenario() {
    return scenario;
  }

  /** The tasks, in manifest order. */
  public List<TaskInfo> tasks() {
    return tasks;
  }

  /** The names of the tasks, in manifest order. */
  public List<String> taskNames() {
    List<String> names = new ArrayList<>();
    for (TaskInfo task : tasks) {
      names.add(task.name());
    }
    return names;
  }

  /** Every model of every task, task by task and level by level. */
  public List<ModelInfo> models() {
    List<ModelInfo> models = new ArrayList<>();
    for (TaskInfo task : tasks) {
      models.addAll(task.models());
    }
    return models;
  }

  /** The task called {@code name}. */
  public TaskInfo task(String name) {
    for (TaskInfo task : tasks) {
      if (task.name().equals(name)) {
        return task;
      }
    }
    throw new IllegalArgumentException("no task '" + name + "'; tasks: " + taskNames());
  }
}
