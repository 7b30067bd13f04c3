package org.dvn.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.Test;

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
  public void rejectsInvalidDocumentsWithPosition() {
    assertRejected("", "line 1, column 1: unexpected end of input");
    assertRejected("{\"a\": 1,}", "expected a string key");
    assertRejected("[1, 2", "expected ',' or ']'");
    assertRejected("[1 2]", "expected ',' or ']'");
    assertRejected("{\"a\" 1}", "expected ':'");
    assertRejected("{\"a\": 1, \"a\": 2}", "duplicate key \"a\"");
    assertRejected("01", "leading zeros");
    assertRejected("1.", "after the decimal point");
    assertRejected("1e", "in the exponent");
    assertRejected("-", "expected a digit");
    assertRejected("NaN", "unexpected character 'N'");
    assertRejected("tru", "expected 'true'");
    assertRejected("\"abc", "unterminated string");
    assertRejected("\"a\nb\"", "control character U+000A");
    assertRejected("\"\\x\"", "invalid escape");
    assertRejected("\"\\u12G4\"", "invalid hex digit");
    assertRejected("{} {}", "unexpected text after the end");
    assertRejected("{\n  \"a\": ?\n}", "line 2, column 8");
  }

  @Test
  public void rejectsExcessiveNesting() {
    String deep = "[".repeat(600) + "]".repeat(600);
    assertRejected(deep, "nesting deeper than 512");
  }

  private static void assertRejected(String text, String expectedPart) {
    JsonException e = assertThrows(JsonException.class, () -> Json.parse(text));
    assertTrue(
        "message '" + e.getMessage() + "' should contain '" + expectedPart + "'",
        e.getMessage().contains(expectedPart));
  }
}
