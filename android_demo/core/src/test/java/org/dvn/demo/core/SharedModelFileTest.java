package org.dvn.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayInputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * The shared layout on a real export of the Python exporter (tests/fixtures/shared_export, made
 * by make_shared_export.py): its manifest, and cut-outs byte-identical to the Python runtime's.
 */
public class SharedModelFileTest {
  private static Path exportDir() {
    String property = System.getProperty("dvn.sharedExport");
    if (property == null) {
      throw new IllegalStateException(
          "system property dvn.sharedExport is not set: run android_demo/run-jvm-tests.sh or"
              + " 'gradle :core:test', which point it at tests/fixtures/shared_export.");
    }
    return Paths.get(property);
  }

  private static String manifestText() throws Exception {
    return new String(Files.readAllBytes(exportDir().resolve("manifest.json")), StandardCharsets.UTF_8);
  }

  private static String sha256(byte[] bytes) throws Exception {
    StringBuilder hex = new StringBuilder();
    for (byte b : MessageDigest.getInstance("SHA-256").digest(bytes)) {
      hex.append(String.format("%02x", b));
    }
    return hex.toString();
  }

  @Test
  public void aRecipeScalesOuterRowsOrChannelsAsThePythonRuntimeDoes() throws Exception {
    // Recipes over the fixture's stored buffers; the hashes are of dvn_runtime/cutout.py's make().
    SharedModelFile shared = new SharedModelFile(
        ByteBuffer.wrap(Files.readAllBytes(exportDir().resolve("shared.tflite"))));
    String recipe = "{\"shape\": [1, 3, 3, 8], \"type\": \"float32\", \"scale\": %s,"
        + " \"blocks\": [[18, 2], [153, 2], [18, 2], [153, 2]]}";
    assertEquals("d4f1aa497d0c9f40a2a64df3f34c06ea30ab68865bb8c20d17e0cc2669e4ad15",
        sha256(shared.madeBytes((Map<?, ?>) Json.parse(String.format(recipe, "null")))));
    assertEquals("796f5f2c0d5e31b6e849a7097af76f98939c6588b9dacacbd93a02131241c89e",
        sha256(shared.madeBytes(
            (Map<?, ?>) Json.parse(String.format(recipe, "[6, \"float32\", -1]")))));
  }

  @Test
  public void everyCutOutHasTheBytesOfThePythonCutOut() throws Exception {
    assertCutOutsMatchPython(exportDir());
  }

  @Test
  public void everyInt8CutOutRelocatesPooledVectorsAsThePythonCutOutDoes() throws Exception {
    // shared_export_int8: index version 5, quantization vectors pooled across signatures.
    assertCutOutsMatchPython(exportDir().resolveSibling("shared_export_int8"));
  }

  private static void assertCutOutsMatchPython(Path directory) throws Exception {
    Manifest manifest = ManifestReader.parse(
        new String(Files.readAllBytes(directory.resolve("manifest.json")), StandardCharsets.UTF_8));
    FileEntry file = manifest.sharedFiles().get(0);
    byte[] content = Files.readAllBytes(directory.resolve(file.file()));
    assertEquals(file.sha256(), sha256(content));
    SharedModelFile shared = new SharedModelFile(ByteBuffer.wrap(content));
    assertEquals(
        List.of("even_level1", "even_level2", "odd_level1", "odd_level2"), shared.signatureKeys());
    assertEquals(4, manifest.models().size());
    for (ModelInfo model : manifest.models()) {
      assertEquals(file.file(), model.file());
      byte[] cutout = shared.cutout(model.signature());
      assertEquals(model.toString(), model.bytes(), cutout.length);
      assertEquals(model.toString(), model.sha256(), sha256(cutout));
      assertTrue(cutout.length < content.length);
    }
  }

  @Test
  public void aPerLevelModelHasNoSignatureAndChecksListTheSharedFile() throws Exception {
    assertNull(FakeModels.manifest(10, 20).models().get(0).signature());
    Manifest manifest = ManifestReader.parse(manifestText());
    FileEntry file = manifest.sharedFiles().get(0);
    assertEquals(
        List.of("task even", "task odd",
            "model shared.tflite " + file.sha256() + " " + file.bytes()),
        ManifestCheck.describe(manifest));
  }

  @Test
  public void refusesAnUnknownSignatureAndAFileWithoutIndex() throws Exception {
    byte[] content = Files.readAllBytes(exportDir().resolve("shared.tflite"));
    SharedModelFile shared = new SharedModelFile(ByteBuffer.wrap(content));
    ManifestException unknown = assertThrows(ManifestException.class, () -> shared.cutout("x"));
    assertTrue(unknown.getMessage(), unknown.getMessage().contains("no signature 'x'"));
    String text = new String(content, StandardCharsets.ISO_8859_1).replace("dvn_cutout", "xxx_cutout");
    ManifestException missing = assertThrows(ManifestException.class,
        () -> new SharedModelFile(ByteBuffer.wrap(text.getBytes(StandardCharsets.ISO_8859_1))));
    assertTrue(missing.getMessage(), missing.getMessage().contains("no cut-out index"));
  }

  @Test
  public void rejectsASharedManifestWithoutFilesOrWithAnotherLayout() throws Exception {
    String text = manifestText();
    assertRejected(text.replace("\"files\"", "\"nofiles\""), "files is missing");
    assertRejected(text.replace("\"layout\": \"shared\"", "\"layout\": \"per-level\""),
        "layout must be 'shared' in format 2");
    assertRejected(text.replace("\"signature\"", "\"nosignature\""), "models[0].signature is missing");
  }

  private static void assertRejected(String text, String expectedPart) {
    ManifestException e = assertThrows(ManifestException.class,
        () -> ManifestReader.read(new ByteArrayInputStream(text.getBytes(StandardCharsets.UTF_8))));
    assertTrue("'" + e.getMessage() + "' should contain '" + expectedPart + "'",
        e.getMessage().contains(expectedPart));
  }
}
