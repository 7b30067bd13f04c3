package org.dvn.demo;

import android.app.ActivityManager;
import android.content.Context;

/**
 * Reads how much memory the models may use now: the smaller of what the system has left above
 * its low-memory threshold and what this app's heap has left below its limit. The heap bound is
 * what the pressure control's ballast eats into; the system bound is what other apps eat into.
 */
final class MemoryProbe {

  /** One reading, in bytes. */
  static final class Reading {
    final long systemAvailable;
    final long heapHeadroom;
    final boolean systemLow;

    Reading(long systemAvailable, long heapHeadroom, boolean systemLow) {
      this.systemAvailable = systemAvailable;
      this.heapHeadroom = heapHeadroom;
      this.systemLow = systemLow;
    }

    /** The budget fed to the policy. */
    long available() {
      return Math.min(systemAvailable, heapHeadroom);
    }
  }

  private final ActivityManager activityManager;

  MemoryProbe(Context context) {
    activityManager = context.getSystemService(ActivityManager.class);
  }

  /** Takes a reading; cheap enough to call every second. */
  Reading read() {
    ActivityManager.MemoryInfo info = new ActivityManager.MemoryInfo();
    activityManager.getMemoryInfo(info);
    Runtime runtime = Runtime.getRuntime();
    long heapUsed = runtime.totalMemory() - runtime.freeMemory();
    return new Reading(
        Math.max(0, info.availMem - info.threshold),
        Math.max(0, runtime.maxMemory() - heapUsed),
        info.lowMemory);
  }
}
