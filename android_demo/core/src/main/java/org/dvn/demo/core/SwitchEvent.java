package org.dvn.demo.core;

import java.util.Locale;

/** One completed model switch, as reported to a {@link ModelSwitcher.Listener}. */
public final class SwitchEvent {
  private final ModelInfo from;
  private final ModelInfo to;
  private final String reason;
  private final long elapsedNanos;
  private final int inferencesLeftOnOld;

  SwitchEvent(ModelInfo from, ModelInfo to, String reason, long elapsedNanos, int inferencesLeftOnOld) {
    this.from = from;
    this.to = to;
    this.reason = reason;
    this.elapsedNanos = elapsedNanos;
    this.inferencesLeftOnOld = inferencesLeftOnOld;
  }

  /** The model served before the switch, or null for the first load. */
  public ModelInfo from() {
    return from;
  }

  /** The model served from now on. */
  public ModelInfo to() {
    return to;
  }

  /** Why the switch happened, e.g. "downgrade", "upgrade", "initial" or "task". */
  public String reason() {
    return reason;
  }

  /** Time from the start of the switch until the new model served, in nanoseconds. */
  public long elapsedNanos() {
    return elapsedNanos;
  }

  /**
   * Inferences still running on the old model when the new one took over; the old model is
   * closed when the last of them returns (at once when this is 0).
   */
  public int inferencesLeftOnOld() {
    return inferencesLeftOnOld;
  }

  @Override
  public String toString() {
    boolean sameTask = from != null && from.task().equals(to.task());
    String fromText = from == null ? "none" : sameTask ? "level " + from.level() : from.toString();
    String toText = sameTask ? "level " + to.level() : to.toString();
    String pending =
        inferencesLeftOnOld == 0 ? "" : ", old model closes after " + inferencesLeftOnOld + " in flight";
    return String.format(
        Locale.ROOT, "%s -> %s (%s) in %.1f ms%s", fromText, toText, reason, elapsedNanos / 1e6, pending);
  }
}
