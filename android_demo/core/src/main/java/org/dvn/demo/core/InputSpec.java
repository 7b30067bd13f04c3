package org.dvn.demo.core;

/**
 * The input a model expects, from the manifest: shape [1, H, W, C], dtype, and the per-channel
 * mean and std applied to pixels already scaled to [0, 1].
 */
public final class InputSpec {
  private final int height;
  private final int width;
  private final int channels;
  private final String dtype;
  private final float[] mean;
  private final float[] std;

  /** Creates a spec; {@link ManifestReader} has checked the values. */
  InputSpec(int height, int width, int channels, String dtype, float[] mean, float[] std) {
    this.height = height;
    this.width = width;
    this.channels = channels;
    this.dtype = dtype;
    this.mean = mean.clone();
    this.std = std.clone();
  }

  /** Image height H in pixels. */
  public int height() {
    return height;
  }

  /** Image width W in pixels. */
  public int width() {
    return width;
  }

  /** Channels C: 1 (gray) or 3 (RGB). */
  public int channels() {
    return channels;
  }

  /** The dtype named in the manifest, e.g. "float32". */
  public String dtype() {
    return dtype;
  }

  /** Number of values in one input tensor: H * W * C. */
  public int elementCount() {
    return height * width * channels;
  }

  /** Mean of channel {@code c}, in units of pixels scaled to [0, 1]. */
  public float mean(int c) {
    return mean[c];
  }

  /** Standard deviation of channel {@code c}, in units of pixels scaled to [0, 1]. */
  public float std(int c) {
    return std[c];
  }
}
