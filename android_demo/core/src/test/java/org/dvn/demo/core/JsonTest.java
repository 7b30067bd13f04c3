package org.dvn.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.Test;

/** Json: org.json read into plain Java values. */
public class JsonTest {

  @Test
  public void parsesScalars() throws JsonException {
    assertEquals(Boolean.TRUE, Json.parse("true"));
    assertEquals(Boolean.FALSE, Json.parse(" false "));
    assertNull(Json.parse("null"));
    assertEquals("hi", Json.parse("\"hi\""));
  }

  @Test
  public void integersBecomeLongsAndOtherNumbersDoubles() throws JsonException {
    assertEquals(3000000000L, Json.parse("3000000000"));
    assertEquals(-7L, Json.parse("-7"));
    assertEquals(0L, Json.parse("0"));
    assertEquals(0.25, Json.parse("0.25"));
    assertEquals(-1.5e-3, Json.parse("-1.5E-3"));
    assertEquals(100.0, Json.parse("1e2"));
    assertEquals(1e19, Json.parse("10000000000000000000"));
  }

  @Test
  public void parsesNestedContainersInDocumentOrder() throws JsonException {
    Object value = Json.parse("{\"b\": [1, {\"c\": null}], \"a\": {}, \"z\": []}");
    Map<?, ?> object = (Map<?, ?>) value;
    assertEquals(Arrays.asList("b", "a", "z"), List.copyOf(object.keySet()));
    List<?> list = (List<?>) object.get("b");
    assertEquals(1L, list.get(0));
    assertTrue(((Map<?, ?>) list.get(1)).containsKey("c"));
    assertTrue(((Map<?, ?>) object.get("a")).isEmpty());
    assertTrue(((List<?>) object.get("z")).isEmpty());
  }

  @Test
  public void decodesEscapesIncludingSurrogatePairs() throws JsonException {
    assertEquals("a\"b\\c/d\b\f\n\r\t", Json.parse("\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\""));
    assertEquals("é", Json.parse("\"\\u00e9\""));
    assertEquals("\uD83D\uDE00", Json.parse("\"\\uD83D\\uDE00\""));
    assertEquals("日本", Json.parse("\"日本\""));
  }

  @Test
  public void resultsAreUnmodifiable() throws JsonException {
    Map<?, ?> object = (Map<?, ?>) Json.parse("{\"a\": [1]}");
    assertThrows(UnsupportedOperationException.class, object::clear);
    assertThrows(UnsupportedOperationException.class, ((List<?>) object.get("a"))::clear);
  }

  @Test
  public void rejectsWhatOrgJsonCannotRead() {
    assertRejected("", "End of input");
    assertRejected("[1, 2", "Unterminated array");
    assertRejected("{\"a\" 1}", "Expected ':'");
    assertRejected("\"abc", "Unterminated string");
    assertRejected("{} {}", "unexpected text after the end");
  }

  private static void assertRejected(String text, String expectedPart) {
    JsonException e = assertThrows(JsonException.class, () -> Json.parse(text));
    assertTrue(
        "message '" + e.getMessage() + "' should contain '" + expectedPart + "'",
        e.getMessage().contains(expectedPart));
  }
}
