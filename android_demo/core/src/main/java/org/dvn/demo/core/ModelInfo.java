package org.dvn.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** One exported model: a (task, level) pair, its file and its measured figures. */
public final class ModelInfo {
  private final String task;
  private final int level;
  private final String file;
  private final String sha256;
  private final long bytes;
  private final long params;
  private final long flops;
  private final String quantize;
  private final double accuracyKeras;
  private final double accuracyTflite;
  private final double latencyMs;
  private final long arenaBytes;
  private final String signature;
  private final List<Double> perClassRecall;

  /** Creates a model entry; {@link ManifestReader} has checked the values. */
  ModelInfo(
      String task,
      int level,
      String file,
      String sha256,
      long bytes,
      long params,
      long flops,
      String quantize,
      double accuracyKeras,
      double accuracyTflite,
      double latencyMs,
      long arenaBytes,
      String signature,
      List<Double> perClassRecall) {
    this.task = task;
    this.level = level;
    this.file = file;
    this.sha256 = sha256;
    this.bytes = bytes;
    this.params = params;
    this.flops = flops;
    this.quantize = quantize;
    this.accuracyKeras = accuracyKeras;
    this.accuracyTflite = accuracyTflite;
    this.latencyMs = latencyMs;
    this.arenaBytes = arenaBytes;
    this.signature = signature;
    // Null elements are allowed, which List.copyOf would refuse.
    this.perClassRecall =
        perClassRecall == null
            ? null
            : Collections.unmodifiableList(new ArrayList<>(perClassRecall));
  }

  /** Name of the task this model classifies for. */
  public String task() {
    return task;
  }

  /** Memory-budget level, 1-based; larger levels use more units. */
  public int level() {
    return level;
  }

  /**
   * File name of the .tflite model, relative to the manifest's folder: the model's own file, or
   * in the shared layout the shared file that holds it as {@link #signature()}.
   */
  public String file() {
    return file;
  }

  /** Signature key of the model in its shared file; null in the per-level layout. */
  public String signature() {
    return signature;
  }

  /** SHA-256 of the model (its file, or its cut-out from the shared file), 64 hex digits. */
  public String sha256() {
    return sha256;
  }

  /** Size of the model (its file, or its cut-out) in bytes. */
  public long bytes() {
    return bytes;
  }

  /** Number of parameters. */
  public long params() {
    return params;
  }

  /** Floating-point operations of one inference. */
  public long flops() {
    return flops;
  }

  /** Quantization used at export: none, float16, dynamic, int8 or int8-qat. */
  public String quantize() {
    return quantize;
  }

  /** Test accuracy of the Keras model, in [0, 1]. */
  public double accuracyKeras() {
    return accuracyKeras;
  }

  /** Test accuracy of this .tflite model, in [0, 1]. */
  public double accuracyTflite() {
    return accuracyTflite;
  }

  /** Latency of one inference measured at export, in milliseconds. */
  public double latencyMs() {
    return latencyMs;
  }

  /** Memory the interpreter's tensor arena needs, in bytes: the budget policy's cost. */
  public long arenaBytes() {
    return arenaBytes;
  }

  /**
   * Held-out recall of each class in logit order, an element null for a class without held-out
   * examples; null when the manifest has none (exports made before per-class recall existed).
   */
  public List<Double> perClassRecall() {
    return perClassRecall;
  }

  /**
   * Index of the first class of lowest recall, classes of null recall skipped; -1 when the
   * manifest gives no recall for this model.
   */
  public int worstClass() {
    int worst = -1;
    if (perClassRecall == null) {
      return worst;
    }
    for (int c = 0; c < perClassRecall.size(); c++) {
      Double recall = perClassRecall.get(c);
      if (recall != null && (worst < 0 || recall < perClassRecall.get(worst))) {
        worst = c;
      }
    }
    return worst;
  }

  @Override
  public String toString() {
    return task + " level " + level + " (" + file + (signature == null ? "" : " " + signature)
        + ")";
  }
}
