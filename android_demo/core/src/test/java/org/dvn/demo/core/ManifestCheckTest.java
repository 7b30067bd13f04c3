package org.dvn.demo.core;

import static org.junit.Assert.assertEquals;

import java.util.List;
import org.junit.Test;

public class ManifestCheckTest {
  @Test
  public void listsTasksThenModelsWithChecksumAndSize() throws ManifestException {
    List<String> lines = ManifestCheck.describe(FakeModels.manifest(10, 20));
    String sha = "a".repeat(64);
    assertEquals(
        List.of(
            "task digit",
            "task parity",
            "model digit_1.tflite " + sha + " 1",
            "model digit_2.tflite " + sha + " 1",
            "model parity_1.tflite " + sha + " 1",
            "model parity_2.tflite " + sha + " 1"),
        lines);
  }
}
