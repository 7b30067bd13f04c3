package org.dvn.demo;

import java.util.ArrayList;
import java.util.List;

/**
 * Memory pressure under the user's control: byte arrays on this app's heap, each written to
 * page by page so that the memory is really committed, and dropped (then collected) to free it.
 * Call from one thread.
 */
final class Ballast {
  private static final int PAGE_BYTES = 4096;

  private final int chunkBytes;
  private final List<byte[]> chunks = new ArrayList<>();

  Ballast(int chunkBytes) {
    this.chunkBytes = chunkBytes;
  }

  /**
   * Grows or shrinks the ballast to {@code targetBytes}, in whole chunks. Growth stops early if
   * the heap is full.
   *
   * @return the bytes held afterwards
   */
  long resize(long targetBytes) {
    long wantedChunks = targetBytes / chunkBytes;
    boolean freed = false;
    while (chunks.size() > wantedChunks) {
      chunks.remove(chunks.size() - 1);
      freed = true;
    }
    try {
      while (chunks.size() < wantedChunks) {
        byte[] chunk = new byte[chunkBytes];
        for (int i = 0; i < chunk.length; i += PAGE_BYTES) {
          chunk[i] = 1;
        }
        chunks.add(chunk);
      }
    } catch (OutOfMemoryError heapFull) {
      // Only ballast failed to allocate: keep what was allocated and report it.
    }
    if (freed) {
      Runtime.getRuntime().gc(); // So that the next reading sees the memory back.
    }
    return heldBytes();
  }

  /** Bytes of ballast held now. */
  long heldBytes() {
    return (long) chunks.size() * chunkBytes;
  }
}
