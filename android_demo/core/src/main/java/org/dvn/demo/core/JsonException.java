package org.dvn.demo.core;

/** Thrown by {@link Json#parse} for text that is not JSON (org.json's message). */
public final class JsonException extends Exception {
  /** Creates the exception with a message that says where and what is wrong. */
  public JsonException(String message) {
    super(message);
  }
}
