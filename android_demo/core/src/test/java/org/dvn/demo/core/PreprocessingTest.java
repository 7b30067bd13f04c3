package org.dvn.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.List;
import org.junit.Test;

public class PreprocessingTest {

  private static InputSpec input(int height, int width, float[] mean, float[] std) {
    return new InputSpec(height, width, mean.length, "float32", mean, std);
  }

  @Test
  public void normalizesRgbPerChannelInNhwcOrder() {
    InputSpec rgb = input(1, 2, new float[] {0.5f, 0f, 1f}, new float[] {0.5f, 1f, 2f});
    int[] pixels = {0xFFFF0000, 0x8000FF80};
    float[] tensor = Preprocessing.normalize(pixels, rgb);
    float[] expected = {
      (1f - 0.5f) / 0.5f, 0f, (0f - 1f) / 2f,
      (0f - 0.5f) / 0.5f, 1f, (128 / 255f - 1f) / 2f
    };
    assertArrayEquals(expected, tensor, 1e-6f);
  }

  @Test
  public void grayUsesLuma() {
    InputSpec gray = input(1, 3, new float[] {0f}, new float[] {1f});
    float[] tensor = Preprocessing.normalize(new int[] {0xFFFFFFFF, 0xFF000000, 0xFF00FF00}, gray);
    assertArrayEquals(new float[] {1f, 0f, 0.587f}, tensor, 1e-5f);
  }

  @Test
  public void rejectsAnImageOfTheWrongSize() {
    InputSpec gray = input(2, 2, new float[] {0f}, new float[] {1f});
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Preprocessing.normalize(new int[3], gray));
    assertTrue(e.getMessage(), e.getMessage().contains("expected 2 x 2 = 4 pixels, got 3"));
  }

  @Test
  public void softmaxTurnsLogitsIntoProbabilities() {
    float[] probabilities = Prediction.probabilities(new float[] {1000f, 1000f, 998f});
    double e2 = Math.exp(-2);
    float[] expected = {(float) (1 / (2 + e2)), (float) (1 / (2 + e2)), (float) (e2 / (2 + e2))};
    assertArrayEquals(expected, probabilities, 1e-6f);
  }

  @Test
  public void probabilitiesPassThrough() {
    float[] scores = {0.7f, 0.2f, 0.1f};
    assertArrayEquals(scores, Prediction.probabilities(scores), 0f);
  }

  @Test
  public void topKIsSortedAndStable() {
    List<String> labels = Arrays.asList("a", "b", "c", "d");
    List<Prediction> top = Prediction.topK(new float[] {0.1f, 0.4f, 0.1f, 0.4f}, labels, 3);
    assertEquals(3, top.size());
    assertEquals("b", top.get(0).label());
    assertEquals(1, top.get(0).index());
    assertEquals("d", top.get(1).label());
    assertEquals("a", top.get(2).label());
    assertEquals(0.1f, top.get(2).probability(), 0f);
    assertEquals(4, Prediction.topK(new float[4], labels, 10).size());
  }

  @Test
  public void topKRejectsAMismatchBetweenModelAndLabels() {
    IllegalArgumentException e =
        assertThrows(
            IllegalArgumentException.class,
            () -> Prediction.topK(new float[3], Arrays.asList("a", "b"), 5));
    assertTrue(e.getMessage(), e.getMessage().contains("3 scores but the task has 2 labels"));
  }
}
