package org.dvn.demo.core;

import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * Command line check of a manifest.json with the same rules as the app, for import-export.sh.
 *
 * <p>Usage: {@code java org.dvn.demo.core.ManifestCheck DIR/manifest.json}. On success prints
 * one line per task ({@code task NAME}) and per model file ({@code model FILE SHA256 BYTES}: in the
 * shared layout, per shared file) and exits
 * 0; otherwise prints the problem to stderr and exits 1.
 */
public final class ManifestCheck {
  private ManifestCheck() {}

  /** Runs the check; see the class comment. */
  public static void main(String[] args) {
    if (args.length != 1) {
      System.err.println("usage: ManifestCheck DIR/manifest.json");
      System.exit(2);
    }
    try (InputStream in = new FileInputStream(args[0])) {
      for (String line : describe(ManifestReader.read(in))) {
        System.out.println(line);
      }
    } catch (IOException | ManifestException e) {
      System.err.println(args[0] + ": " + e.getMessage());
      System.exit(1);
    }
  }

  /** The lines printed for a valid manifest: its tasks, then its models. */
  static List<String> describe(Manifest manifest) {
    List<String> lines = new ArrayList<>();
    for (String task : manifest.taskNames()) {
      lines.add("task " + task);
    }
    if (!manifest.sharedFiles().isEmpty()) { // the files to copy: the shared ones
      for (FileEntry file : manifest.sharedFiles()) {
        lines.add("model " + file.file() + " " + file.sha256() + " " + file.bytes());
      }
      return lines;
    }
    for (ModelInfo model : manifest.models()) {
      lines.add("model " + model.file() + " " + model.sha256() + " " + model.bytes());
    }
    return lines;
  }
}
