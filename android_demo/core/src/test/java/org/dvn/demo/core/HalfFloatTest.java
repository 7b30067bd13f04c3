package org.dvn.demo.core;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

/** The float16 rounding of folded cut-out weights: the same bits as numpy's astype(float16). */
public class HalfFloatTest {
  // {float32 bits, numpy's float16 bits}: ties, subnormals, overflow, underflow.
  private static final int[][] NUMPY = {
    {0x00000000, 0x0000}, {0x80000000, 0x8000}, {0x3f800000, 0x3c00}, {0xc0200000, 0xc100},
    {0x477fe000, 0x7bff}, {0x477ff000, 0x7c00}, {0x477feffd, 0x7bff}, {0x322bcc77, 0x0000},
    {0x33000000, 0x0000}, {0x33000001, 0x0001}, {0x33800000, 0x0001}, {0x33c00000, 0x0002},
    {0x337ffae5, 0x0001}, {0x387fda40, 0x03ff}, {0x387fba0a, 0x03ff}, {0x3f802000, 0x3c01},
    {0x3f801000, 0x3c00}, {0x3f803000, 0x3c02}, {0x3dcccccd, 0x2e66}, {0xc0490fd0, 0xc248},
    {0x49742400, 0x7c00}, {0xba83126f, 0x9419},
  };

  @Test
  public void roundsFloatsToHalvesAsNumpyDoes() {
    for (int[] pair : NUMPY) {
      assertEquals(Integer.toHexString(pair[0]), pair[1],
          SharedModelFile.floatToHalf(Float.intBitsToFloat(pair[0])) & 0xffff);
    }
  }

  @Test
  public void everyHalfSurvivesTheRoundTrip() {
    for (int bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) == 0x7c00 && (bits & 0x3ff) != 0) {
        continue; // NaN
      }
      assertEquals(Integer.toHexString(bits), bits,
          SharedModelFile.floatToHalf(SharedModelFile.halfToFloat((short) bits)) & 0xffff);
    }
  }
}
