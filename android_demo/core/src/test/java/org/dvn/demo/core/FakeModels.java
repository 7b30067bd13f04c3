package org.dvn.demo.core;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Test double for the interpreter (only {@link ModelLoader} and {@link ModelRunner} are faked):
 * records loads, runs and closes in order, and flags any run on a closed model or second close.
 */
final class FakeModels implements ModelLoader {
  /** "load task/level", "run task/level" and "close task/level" entries, in order. */
  final List<String> log = Collections.synchronizedList(new ArrayList<>());
  /** Misuse seen: runs on closed models and repeated closes. Tests expect it empty. */
  final List<String> violations = Collections.synchronizedList(new ArrayList<>());
  /** Every runner loaded so far, in load order. */
  final List<Runner> runners = Collections.synchronizedList(new ArrayList<>());
  /** When set, the next load fails with an IOException. */
  volatile boolean failNextLoad;
  /** Whether runs are logged; stress tests turn it off. */
  volatile boolean logRuns = true;

  /** A manifest with tasks "digit" and "parity", each with one level per arena size given. */
  static Manifest manifest(long... arenaBytesByLevel) throws ManifestException {
    List<String> models = new ArrayList<>();
    for (String task : new String[] {"digit", "parity"}) {
      for (int level = 1; level <= arenaBytesByLevel.length; level++) {
        models.add(
            String.format(
                "{\"task\": \"%s\", \"level\": %d, \"file\": \"%s_%d.tflite\", \"sha256\": \"%s\","
                    + " \"bytes\": 1, \"params\": 1, \"flops\": 1, \"quantize\": \"none\","
                    + " \"accuracy_keras\": 0.5, \"accuracy_tflite\": 0.5, \"latency_ms\": 1,"
                    + " \"arena_bytes\": %d}",
                task, level, task, level, "a".repeat(64), arenaBytesByLevel[level - 1]));
      }
    }
    return ManifestReader.parse(
        "{\"format\": 1, \"scenario\": \"test\","
            + " \"input\": {\"shape\": [1, 2, 2, 1], \"dtype\": \"float32\", \"mean\": [0], \"std\": [1]},"
            + " \"tasks\": [{\"name\": \"digit\", \"num_classes\": 1, \"labels\": [\"x\"]},"
            + " {\"name\": \"parity\", \"num_classes\": 1, \"labels\": [\"y\"]}],"
            + " \"models\": ["
            + String.join(", ", models)
            + "]}");
  }

  static String name(ModelInfo model) {
    return model.task() + "/" + model.level();
  }

  @Override
  public ModelRunner load(ModelInfo model) throws IOException {
    if (failNextLoad) {
      failNextLoad = false;
      throw new IOException("cannot map " + model.file());
    }
    log.add("load " + name(model));
    Runner runner = new Runner(model);
    runners.add(runner);
    return runner;
  }

  /** A fake model whose output is its level; a gate can hold a run in flight. */
  final class Runner implements ModelRunner {
    final ModelInfo model;
    final AtomicBoolean closed = new AtomicBoolean();
    final CountDownLatch entered = new CountDownLatch(1);
    volatile CountDownLatch gate;

    Runner(ModelInfo model) {
      this.model = model;
    }

    @Override
    public float[] run(float[] input) {
      if (closed.get()) {
        violations.add("run on closed " + name(model));
      }
      if (logRuns) {
        log.add("run " + name(model));
      }
      entered.countDown();
      CountDownLatch held = gate;
      if (held != null) {
        try {
          held.await();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return new float[] {model.level()};
    }

    @Override
    public void close() {
      if (!closed.compareAndSet(false, true)) {
        violations.add("second close of " + name(model));
      }
      log.add("close " + name(model));
    }
  }
}
