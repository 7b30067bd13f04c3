package org.dvn.demo.core;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;
import org.json.JSONTokener;

/**
 * Reads a JSON document with {@code org.json} (part of Android; Debian's libandroid-json-java on
 * the JVM) into plain Java values.
 *
 * <p>Values map to Java as: object to {@code Map<String, Object>} (in document order), array to
 * {@code List<Object>}, string to {@link String}, true/false to {@link Boolean}, null to
 * {@code null}, and a number to {@link Long} when it is written without a fraction or exponent
 * and fits in a long, else to {@link Double}. The returned maps and lists are unmodifiable.
 * org.json is lenient where RFC 8259 is strict (it takes unquoted and single-quoted strings, for
 * one); the manifest's own checks reject every value of the wrong type.
 */
public final class Json {
  private Json() {}

  /**
   * Parses one JSON document.
   *
   * @throws JsonException if {@code text} is not JSON; the message says what and where
   */
  public static Object parse(String text) throws JsonException {
    JSONTokener tokener = new JSONTokener(text);
    try {
      Object value = plain(tokener.nextValue());
      if (tokener.nextClean() != 0) {
        throw new JsonException("unexpected text after the end of the document");
      }
      return value;
    } catch (JSONException e) {
      throw new JsonException(e.getMessage());
    }
  }

  private static Object plain(Object value) throws JSONException {
    if (value == JSONObject.NULL) {
      return null;
    }
    if (value instanceof Integer) {
      return ((Integer) value).longValue();
    }
    if (value instanceof JSONObject) {
      JSONObject object = (JSONObject) value;
      Map<String, Object> map = new LinkedHashMap<>();
      for (Iterator<String> keys = object.keys(); keys.hasNext(); ) {
        String key = keys.next();
        map.put(key, plain(object.get(key)));
      }
      return Collections.unmodifiableMap(map);
    }
    if (value instanceof JSONArray) {
      JSONArray array = (JSONArray) value;
      List<Object> list = new ArrayList<>(array.length());
      for (int i = 0; i < array.length(); i++) {
        list.add(plain(array.get(i)));
      }
      return Collections.unmodifiableList(list);
    }
    return value;
  }
}
