package org.dvn.demo.core;

/** Thrown for a manifest.json that is malformed or does not match what this app reads. */
public final class ManifestException extends Exception {
  /** Creates the exception; the message says what is wrong and what to do. */
  public ManifestException(String message) {
    super(message);
  }

  /** Creates the exception for a cause such as unreadable bytes or invalid JSON. */
  public ManifestException(String message, Throwable cause) {
    super(message, cause);
  }
}
