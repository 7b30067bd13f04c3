package org.dvn.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** A parsed and checked manifest.json of one export: its tasks and their models. */
public final class Manifest {
  /** The manifest format of the per-level layout: a .tflite file per (task, level). */
  public static final int FORMAT = 1;
  /** The manifest format of the shared layout: (task, level)s are signatures of shared files. */
  public static final int SHARED_FORMAT = 2;

  private final String scenario;
  private final List<TaskInfo> tasks;
  private final List<FileEntry> sharedFiles;

  /** Creates a manifest; {@link ManifestReader} has checked its consistency. */
  Manifest(String scenario, List<TaskInfo> tasks, List<FileEntry> sharedFiles) {
    this.scenario = scenario;
    this.tasks = Collections.unmodifiableList(tasks);
    this.sharedFiles = Collections.unmodifiableList(sharedFiles);
  }

  /** The shared files of the shared layout; empty in the per-level layout. */
  public List<FileEntry> sharedFiles() {
    return sharedFiles;
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
