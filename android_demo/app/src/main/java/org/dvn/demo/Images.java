package org.dvn.demo;

import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;

/** Decodes pictures (assets or gallery) and resizes them to a model's input. */
final class Images {
  private Images() {}

  /** Opens a fresh stream of the encoded image; called twice (bounds, then pixels). */
  interface Source {
    InputStream open() throws IOException;
  }

  /**
   * Decodes an image, subsampled by a power of two while both sides stay at least {@code
   * minSide} pixels, so that a large photo does not cost a large bitmap.
   *
   * @throws IOException if the source cannot be read or is not an image
   */
  static Bitmap decode(Source source, int minSide) throws IOException {
    BitmapFactory.Options bounds = new BitmapFactory.Options();
    bounds.inJustDecodeBounds = true;
    try (InputStream in = open(source)) {
      BitmapFactory.decodeStream(in, null, bounds);
    }
    if (bounds.outWidth <= 0 || bounds.outHeight <= 0) {
      throw new IOException("not an image this device can decode");
    }
    BitmapFactory.Options options = new BitmapFactory.Options();
    options.inSampleSize = 1;
    while (Math.min(bounds.outWidth, bounds.outHeight) / (options.inSampleSize * 2) >= minSide) {
      options.inSampleSize *= 2;
    }
    try (InputStream in = open(source)) {
      Bitmap bitmap = BitmapFactory.decodeStream(in, null, options);
      if (bitmap == null) {
        throw new IOException("not an image this device can decode");
      }
      return bitmap;
    }
  }

  /** The bitmap resized to {@code width} x {@code height}, as row-major 0xAARRGGBB pixels. */
  static int[] pixels(Bitmap bitmap, int width, int height) {
    Bitmap scaled = Bitmap.createScaledBitmap(bitmap, width, height, true);
    int[] pixels = new int[width * height];
    scaled.getPixels(pixels, 0, width, 0, 0, width, height);
    return pixels;
  }

  private static InputStream open(Source source) throws IOException {
    InputStream in = source.open();
    if (in == null) {
      throw new FileNotFoundException("the image could not be opened");
    }
    return in;
  }
}
