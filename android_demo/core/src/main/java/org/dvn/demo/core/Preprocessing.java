package org.dvn.demo.core;

/** Turns image pixels into a model's input tensor, following the manifest's input spec. */
public final class Preprocessing {
  private Preprocessing() {}

  /**
   * Normalizes an image that is already H x W into the flattened NHWC float input.
   *
   * <p>Each pixel is scaled to [0, 1] (divided by 255), then {@code (x - mean[c]) / std[c]} is
   * applied per channel. For one channel the pixel's luma (ITU-R BT.601) is used.
   *
   * @param argbPixels row-major pixels packed as 0xAARRGGBB (as Android's Bitmap.getPixels
   *     returns them); alpha is ignored
   * @throws IllegalArgumentException if there are not H * W pixels
   */
  public static float[] normalize(int[] argbPixels, InputSpec input) {
    int pixels = input.height() * input.width();
    if (argbPixels.length != pixels) {
      throw new IllegalArgumentException(
          "expected "
              + input.height()
              + " x "
              + input.width()
              + " = "
              + pixels
              + " pixels, got "
              + argbPixels.length
              + ": resize the image to the model's input first.");
    }
    int channels = input.channels();
    float[] tensor = new float[pixels * channels];
    for (int p = 0; p < pixels; p++) {
      int argb = argbPixels[p];
      float red = ((argb >> 16) & 0xFF) / 255f;
      float green = ((argb >> 8) & 0xFF) / 255f;
      float blue = (argb & 0xFF) / 255f;
      if (channels == 1) {
        float luma = 0.299f * red + 0.587f * green + 0.114f * blue;
        tensor[p] = (luma - input.mean(0)) / input.std(0);
      } else {
        tensor[p * 3] = (red - input.mean(0)) / input.std(0);
        tensor[p * 3 + 1] = (green - input.mean(1)) / input.std(1);
        tensor[p * 3 + 2] = (blue - input.mean(2)) / input.std(2);
      }
    }
    return tensor;
  }
}
