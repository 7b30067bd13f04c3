package org.dvn.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** One class of a classification result: its index, label and probability. */
public final class Prediction {
  private static final float SUM_TOLERANCE = 1e-3f;

  private final int index;
  private final String label;
  private final float probability;

  private Prediction(int index, String label, float probability) {
    this.index = index;
    this.label = label;
    this.probability = probability;
  }

  /** Index of the class in logit order. */
  public int index() {
    return index;
  }

  /** Name of the class. */
  public String label() {
    return label;
  }

  /** Probability of the class, in [0, 1]. */
  public float probability() {
    return probability;
  }

  /**
   * Turns a model's output into probabilities: returned as they are if they already are (all in
   * [0, 1] and summing to 1 within 1e-3), else passed through a numerically stable softmax.
   */
  public static float[] probabilities(float[] scores) {
    if (scores.length == 0) {
      throw new IllegalArgumentException("no scores: the model returned an empty output.");
    }
    float sum = 0;
    boolean inUnitRange = true;
    float max = Float.NEGATIVE_INFINITY;
    for (float score : scores) {
      sum += score;
      inUnitRange &= score >= 0 && score <= 1;
      max = Math.max(max, score);
    }
    if (inUnitRange && Math.abs(sum - 1) <= SUM_TOLERANCE) {
      return scores.clone();
    }
    float[] probabilities = new float[scores.length];
    double total = 0;
    for (int i = 0; i < scores.length; i++) {
      probabilities[i] = (float) Math.exp(scores[i] - max);
      total += probabilities[i];
    }
    for (int i = 0; i < scores.length; i++) {
      probabilities[i] = (float) (probabilities[i] / total);
    }
    return probabilities;
  }

  /**
   * The {@code k} most probable classes, most probable first; equal probabilities keep logit
   * order.
   *
   * @throws IllegalArgumentException if there is not one label per probability
   */
  public static List<Prediction> topK(float[] probabilities, List<String> labels, int k) {
    if (probabilities.length != labels.size()) {
      throw new IllegalArgumentException(
          "the model gave "
              + probabilities.length
              + " scores but the task has "
              + labels.size()
              + " labels: the manifest does not match the model.");
    }
    List<Prediction> all = new ArrayList<>();
    for (int i = 0; i < probabilities.length; i++) {
      all.add(new Prediction(i, labels.get(i), probabilities[i]));
    }
    Collections.sort(all, (a, b) -> Float.compare(b.probability, a.probability));
    return new ArrayList<>(all.subList(0, Math.min(k, all.size())));
  }
}
