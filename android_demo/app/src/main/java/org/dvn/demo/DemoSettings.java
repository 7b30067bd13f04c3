package org.dvn.demo;

import org.dvn.demo.core.BudgetPolicy;

/** Every tunable of the demo in one place: the budget policy, polling, ballast and display. */
final class DemoSettings {
  private DemoSettings() {}

  static final long MIB = 1024L * 1024L;

  /**
   * The budget policy. A level needs its arena_bytes plus 10 % plus 4 MiB (input, output and
   * interpreter overhead); an upgrade also needs 8 MiB of headroom on 3 readings in a row.
   */
  static final BudgetPolicy.Settings POLICY =
      BudgetPolicy.Settings.defaults()
          .withMarginFraction(0.10)
          .withMarginBytes(4 * MIB)
          .withHeadroomBytes(8 * MIB)
          .withUpgradeAfter(3)
          .withCap(null)
          .withFloor(null);

  /** How often available memory is read, in milliseconds. */
  static final long POLL_INTERVAL_MS = 1000;

  /** Heap kept free of ballast so that the app itself (bitmaps, UI) never runs out. */
  static final long BALLAST_RESERVE_BYTES = 24 * MIB;

  /** Ballast is allocated in chunks of this size, each touched page by page. */
  static final int BALLAST_CHUNK_BYTES = (int) (4 * MIB);

  /** Interpreter threads per model. */
  static final int INTERPRETER_THREADS = 2;

  /** Number of predictions shown. */
  static final int TOP_K = 5;

  /** Lines kept in the on-screen log. */
  static final int LOG_LINES = 60;

  /** Folder in the app's assets that import-export.sh fills: manifest.json and models. */
  static final String EXPORT_ASSET_DIR = "dvn";

  /** Folder in the assets with one sub-folder of sample images per task. */
  static final String SAMPLES_ASSET_DIR = EXPORT_ASSET_DIR + "/samples";
}
