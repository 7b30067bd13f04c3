package org.dvn.demo.core;

/** The result of one inference: which model produced it, its scores and how long it took. */
public final class Inference {
  private final ModelInfo model;
  private final float[] scores;
  private final long elapsedNanos;

  Inference(ModelInfo model, float[] scores, long elapsedNanos) {
    this.model = model;
    this.scores = scores;
    this.elapsedNanos = elapsedNanos;
  }

  /** The model the inference ran on. */
  public ModelInfo model() {
    return model;
  }

  /** The model's output scores, one per class in logit order. */
  public float[] scores() {
    return scores.clone();
  }

  /** Wall time of the inference, in nanoseconds. */
  public long elapsedNanos() {
    return elapsedNanos;
  }
}
