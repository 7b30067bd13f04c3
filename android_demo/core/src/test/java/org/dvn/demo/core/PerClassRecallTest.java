package org.dvn.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/**
 * Per-class recall on tests/fixtures/per_class_recall, the fixture that the Python runtime's and
 * the browser demo's manifest tests read too: each checks the values of its expected.json.
 */
public class PerClassRecallTest {
  private static Path fixtureDir() {
    String property = System.getProperty("dvn.perClassFixture");
    if (property == null) {
      throw new IllegalStateException(
          "system property dvn.perClassFixture is not set: run android_demo/run-jvm-tests.sh or"
              + " 'gradle :core:test', which point it at tests/fixtures/per_class_recall.");
    }
    return Paths.get(property);
  }

  private static String read(String name) throws Exception {
    return new String(Files.readAllBytes(fixtureDir().resolve(name)), StandardCharsets.UTF_8);
  }

  private static List<Double> asDoubles(Object values) {
    if (values == null) {
      return null;
    }
    List<Double> doubles = new ArrayList<>();
    for (Object value : (List<?>) values) {
      doubles.add(value == null ? null : ((Number) value).doubleValue());
    }
    return doubles;
  }

  @Test
  public void readsEachModelsRecallAndWorstClassAsTheOtherClientsDo() throws Exception {
    Manifest manifest = ManifestReader.parse(read("manifest.json"));
    Map<?, ?> expected = (Map<?, ?>) Json.parse(read("expected.json"));
    List<?> cases = (List<?>) expected.get("models");
    assertEquals(3, cases.size());
    for (Object item : cases) {
      Map<?, ?> expectation = (Map<?, ?>) item;
      TaskInfo task = manifest.task((String) expectation.get("task"));
      ModelInfo model = task.model(((Number) expectation.get("level")).intValue());
      String where = model.toString();
      assertEquals(where, asDoubles(expectation.get("per_class_recall")), model.perClassRecall());
      int worst = model.worstClass();
      if (expectation.get("worst_label") == null) {
        assertEquals(where, -1, worst);
        assertNull(expectation.get("worst_recall"));
      } else {
        assertEquals(where, expectation.get("worst_label"), task.labels().get(worst));
        assertEquals(
            where,
            ((Number) expectation.get("worst_recall")).doubleValue(),
            model.perClassRecall().get(worst),
            0);
      }
    }
  }

  @Test
  public void rejectsARecallPerClassThatDoesNotMatchTheTask() throws Exception {
    String fixture = read("manifest.json");
    String[][] cases = {
      {"[0.9, 0.0, null, 0.75]", "[0.9, 0.0]",
       "models[0].per_class_recall has 2 values but task 'animals' has 4 classes"},
      {"[0.9, 0.0, null, 0.75]", "[0.9, 0.0, null, 7.5]",
       "models[0].per_class_recall must hold recalls in [0, 1] or null, got 7.5."},
      {"[0.9, 0.0, null, 0.75]", "[0.9, 0.0, null, \"high\"]",
       "models[0].per_class_recall must be a finite number"},
    };
    for (String[] c : cases) {
      ManifestException error =
          assertThrows(
              ManifestException.class, () -> ManifestReader.parse(fixture.replace(c[0], c[1])));
      assertTrue(error.getMessage(), error.getMessage().contains(c[2]));
    }
  }
}
