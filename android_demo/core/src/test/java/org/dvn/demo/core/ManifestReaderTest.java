package org.dvn.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Map;
import org.junit.Test;

public class ManifestReaderTest {
  private static final String SHA_A = "a".repeat(64);
  private static final String SHA_B = "B".repeat(64);
  private static final String SHA_C = "0123456789abcdef".repeat(4);

  /** A valid manifest with a shared input and two tasks; tests break one thing at a time. */
  private static final String VALID =
      """
      {"format": 1, "scenario": "digits",
       "input": {"shape": [1, 8, 8, 1], "dtype": "float32", "mean": [0.3], "std": [0.4]},
       "tasks": [
         {"name": "digit", "num_classes": 3, "labels": ["zero", "one", "two"]},
         {"name": "parity", "num_classes": 2, "labels": ["even", "odd"]}],
       "models": [
         {"task": "digit", "level": 2, "file": "digit_l2.tflite", "sha256": "%s",
          "bytes": 2000, "params": 500, "flops": 9000, "quantize": "none",
          "accuracy_keras": 0.9, "accuracy_tflite": 0.9, "latency_ms": 0.5, "arena_bytes": 4096},
         {"task": "digit", "level": 1, "file": "digit_l1.tflite", "sha256": "%s",
          "bytes": 1000, "params": 200, "flops": 4000, "quantize": "none",
          "accuracy_keras": 0.8, "accuracy_tflite": 0.79, "latency_ms": 0.25, "arena_bytes": 2048},
         {"task": "parity", "level": 1, "file": "parity_l1.tflite", "sha256": "%s",
          "bytes": 900, "params": 150, "flops": 3000, "quantize": "int8",
          "accuracy_keras": 1, "accuracy_tflite": 0, "latency_ms": 0, "arena_bytes": 0}]}
      """
          .formatted(SHA_A, SHA_B, SHA_C);

  @Test
  public void readsAValidManifest() throws Exception {
    Manifest manifest = read(VALID);
    assertEquals("digits", manifest.scenario());
    assertEquals(Arrays.asList("digit", "parity"), manifest.taskNames());

    TaskInfo digit = manifest.task("digit");
    assertEquals(3, digit.numClasses());
    assertEquals(Arrays.asList("zero", "one", "two"), digit.labels());
    assertEquals(8, digit.input().height());
    assertEquals(8, digit.input().width());
    assertEquals(1, digit.input().channels());
    assertEquals(64, digit.input().elementCount());
    assertEquals("float32", digit.input().dtype());
    assertEquals(0.3f, digit.input().mean(0), 0f);
    assertEquals(0.4f, digit.input().std(0), 0f);

    assertEquals(2, digit.models().size());
    ModelInfo level1 = digit.model(1);
    assertEquals("digit_l1.tflite", level1.file());
    assertEquals(1, level1.level());
    assertEquals(SHA_B, level1.sha256());
    assertEquals(1000, level1.bytes());
    assertEquals(200, level1.params());
    assertEquals(4000, level1.flops());
    assertEquals("none", level1.quantize());
    assertEquals(0.8, level1.accuracyKeras(), 0);
    assertEquals(0.79, level1.accuracyTflite(), 0);
    assertEquals(0.25, level1.latencyMs(), 0);
    assertEquals(2048, level1.arenaBytes());
    assertEquals(Map.of(1, 2048L, 2, 4096L), digit.arenaBytesByLevel());
    assertEquals(3, manifest.models().size());
  }

  @Test
  public void readsFromAStream() throws Exception {
    Manifest manifest =
        ManifestReader.read(new ByteArrayInputStream(VALID.getBytes(StandardCharsets.UTF_8)));
    assertEquals(2, manifest.tasks().size());
  }

  @Test
  public void perTaskInputOverridesTheSharedOne() throws Exception {
    String json =
        VALID.replace(
            "\"name\": \"parity\",",
            "\"name\": \"parity\", \"input\": {\"shape\": [1, 32, 24, 3], \"dtype\": \"float32\","
                + " \"mean\": [0.5, 0.4, 0.3], \"std\": [0.2, 0.2, 0.25]},");
    Manifest manifest = read(json);
    InputSpec parity = manifest.task("parity").input();
    assertEquals(32, parity.height());
    assertEquals(24, parity.width());
    assertEquals(3, parity.channels());
    assertArrayEquals(new float[] {0.5f, 0.4f, 0.3f}, means(parity), 0f);
    assertEquals(1, manifest.task("digit").input().channels());
  }

  @Test
  public void inputMayLiveOnlyInEachTask() throws Exception {
    String taskInput =
        "\"input\": {\"shape\": [1, 8, 8, 1], \"dtype\": \"float32\", \"mean\": [0], \"std\": [1]},";
    String json =
        withoutSharedInput(VALID)
            .replace("\"name\": \"digit\",", "\"name\": \"digit\", " + taskInput)
            .replace("\"name\": \"parity\",", "\"name\": \"parity\", " + taskInput);
    assertEquals(8, read(json).task("parity").input().height());
  }

  @Test
  public void rejectsAnotherFormatVersion() {
    assertRejected(
        VALID.replace("\"format\": 1", "\"format\": 2"),
        "manifest.json has format 2, but this app reads format 1");
  }

  @Test
  public void rejectsInvalidJson() {
    assertRejected("{\"format\": 1,", "manifest.json is not valid JSON: invalid JSON at line 1");
    assertRejected("[]", "manifest.json: (root) must be a JSON object");
  }

  @Test
  public void rejectsMissingOrMistypedFields() {
    assertRejected(VALID.replace("\"format\": 1, ", ""), "format is missing.");
    assertRejected(VALID.replace("\"format\": 1", "\"format\": \"1\""), "format must be an integer");
    assertRejected(VALID.replace("\"scenario\": \"digits\"", "\"scenario\": \"\""), "scenario must");
    assertRejected(VALID.replace("\"bytes\": 1000, ", ""), "models[1].bytes is missing.");
    assertRejected(
        VALID.replace("\"params\": 200", "\"params\": 2.5"),
        "models[1].params must be an integer, got 2.5.");
    assertRejected(
        VALID.replace("\"arena_bytes\": 2048", "\"arena_bytes\": -1"),
        "models[1].arena_bytes must be >= 0, got -1.");
    assertRejected(
        VALID.replace("\"accuracy_tflite\": 0.79", "\"accuracy_tflite\": 79"),
        "models[1].accuracy_tflite must be an accuracy in [0, 1]");
    assertRejected(
        VALID.replace("\"latency_ms\": 0.25", "\"latency_ms\": null"),
        "models[1].latency_ms must be a finite number, got null.");
    assertRejected(
        VALID.replace(SHA_B, "xyz"), "models[1].sha256 must be 64 hex digits, got 'xyz'.");
    assertRejected(
        VALID.replace("\"digit_l1.tflite\"", "\"../digit_l1.tflite\""),
        "models[1].file must be a plain file name ending in .tflite");
    assertRejected(
        VALID.replace("\"digit_l1.tflite\"", "\"digit_l1.bin\""), "models[1].file must be");
    assertRejected(
        VALID.replace("\"models\": [", "\"models\": {\"all\": [").replace("}]}\n", "}]}}\n"),
        "models must be a list, got an object.");
  }

  @Test
  public void errorsSayWhatToDo() {
    assertRejected(
        VALID.replace("\"bytes\": 1000, ", ""),
        "Re-export with 'python -m export --workdir=DIR' and copy DIR/tflite in with"
            + " android_demo/import-export.sh.");
  }

  @Test
  public void rejectsBadInputs() {
    assertRejected(
        VALID.replace("[1, 8, 8, 1]", "[1, 8, 8]"), "input.shape must be [1, H, W, C], got [1, 8, 8].");
    assertRejected(
        VALID.replace("[1, 8, 8, 1]", "[2, 8, 8, 1]"), "export with --batch=1 (the default)");
    assertRejected(VALID.replace("[1, 8, 8, 1]", "[1, 0, 8, 1]"), "must hold positive integers");
    assertRejected(VALID.replace("[1, 8, 8, 1]", "[1, 8, 8, 4]"), "1 (gray) or 3 (RGB) channels");
    assertRejected(
        VALID.replace("\"mean\": [0.3]", "\"mean\": [0.3, 0.3, 0.3]"),
        "input.mean has 3 values but the input has 1 channels.");
    assertRejected(VALID.replace("\"std\": [0.4]", "\"std\": [0]"), "input.std must be > 0");
    assertRejected(
        withoutSharedInput(VALID),
        "tasks[0] (task 'digit') has no 'input' and the manifest has no top-level 'input'");
  }

  @Test
  public void rejectsLabelsThatDoNotMatchNumClasses() {
    assertRejected(
        VALID.replace("[\"zero\", \"one\", \"two\"]", "[\"zero\", \"one\"]"),
        "tasks[0].labels has 2 names but num_classes is 3: give one label per class");
    assertRejected(
        VALID.replace("[\"even\", \"odd\"]", "[\"even\", 1]"),
        "tasks[1].labels[1] must be a string, got 1.");
    assertRejected(VALID.replace("\"num_classes\": 2", "\"num_classes\": 0"), "must be >= 1");
  }

  @Test
  public void rejectsInconsistentTasksAndModels() {
    assertRejected(
        VALID.replace("\"name\": \"parity\"", "\"name\": \"digit\""),
        "tasks[1].name repeats task 'digit': task names must be unique.");
    assertRejected(
        VALID.replace("\"task\": \"parity\"", "\"task\": \"colour\""),
        "models[2].task is 'colour', which is not among the tasks [digit, parity]");
    assertRejected(
        VALID.replace("\"level\": 2", "\"level\": 1"),
        "models[1] repeats (task 'digit', level 1): each (task, level) must appear once.");
    assertRejected(
        VALID.replace("\"level\": 2", "\"level\": 3"),
        "models for task 'digit' lack level 2 (levels present: [1, 3]): levels must run 1..N");
    assertRejected(
        VALID.replace("\"task\": \"parity\"", "\"task\": \"digit\"")
            .replace("\"parity_l1.tflite\"", "\"x.tflite\"")
            .replace("\"level\": 1, \"file\": \"x", "\"level\": 3, \"file\": \"x"),
        "models has no model for task 'parity': every task needs levels 1..N.");
    assertRejected(VALID.replace("\"level\": 2", "\"level\": 0"), "models[0].level must be a level >= 1");
  }

  @Test
  public void emptyTaskListIsRejected() {
    String json = "{\"format\": 1, \"scenario\": \"s\", \"tasks\": [], \"models\": []}";
    assertRejected(json, "tasks is empty");
  }

  @Test
  public void unknownFieldsAreIgnoredForForwardCompatibility() throws Exception {
    read(VALID.replace("\"scenario\": \"digits\",", "\"scenario\": \"digits\", \"extra\": [1],"));
  }

  @Test
  public void readPropagatesIoErrors() {
    assertThrows(
        IOException.class,
        () ->
            ManifestReader.read(
                new java.io.InputStream() {
                  @Override
                  public int read() throws IOException {
                    throw new IOException("disk gone");
                  }
                }));
  }

  private static Manifest read(String json) throws ManifestException {
    return ManifestReader.parse(json);
  }

  private static String withoutSharedInput(String json) {
    return json.replaceFirst(
        "\"input\": \\{\"shape\": \\[1, 8, 8, 1], \"dtype\": \"float32\", \"mean\": \\[0.3],"
            + " \"std\": \\[0.4]},",
        "");
  }

  private static float[] means(InputSpec input) {
    float[] means = new float[input.channels()];
    for (int c = 0; c < means.length; c++) {
      means[c] = input.mean(c);
    }
    return means;
  }

  private static void assertRejected(String json, String expectedPart) {
    ManifestException e = assertThrows(ManifestException.class, () -> read(json));
    assertTrue(
        "message '" + e.getMessage() + "' should contain '" + expectedPart + "'",
        e.getMessage().contains(expectedPart));
  }
}
