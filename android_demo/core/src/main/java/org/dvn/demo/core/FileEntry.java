package org.dvn.demo.core;

/** A file of an export as the manifest lists it: its name, SHA-256 and size. */
public final class FileEntry {
  private final String file;
  private final String sha256;
  private final long bytes;

  /** Creates an entry; {@link ManifestReader} has checked the values. */
  FileEntry(String file, String sha256, long bytes) {
    this.file = file;
    this.sha256 = sha256;
    this.bytes = bytes;
  }

  /** File name, beside manifest.json. */
  public String file() {
    return file;
  }

  /** SHA-256 of the file, 64 hex digits. */
  public String sha256() {
    return sha256;
  }

  /** Size of the file in bytes. */
  public long bytes() {
    return bytes;
  }
}
