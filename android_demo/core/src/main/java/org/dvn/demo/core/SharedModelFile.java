package org.dvn.demo.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * A shared-layout .tflite ({@code python -m export --layout=shared}) that cuts out one signature
 * at a time: a standalone model of one (task, level) and only the weights it uses, so LiteRT
 * prepares only the served level.
 *
 * <p>The same steps as the Python runtime's {@code dvn_runtime/cutout.py}, which documents the
 * layout, and the same bytes: the manifest's sha256 of a model is that of its cut-out. The
 * file's cut-out index is JSON in its metadata entry {@code dvn_cutout}. A cut-out's "made"
 * buffers (weights with batch norm folded in) are computed as numpy does: float32 products,
 * float16 rounded to nearest even. Quantization vectors pooled across signatures (index version
 * 5) are copied after the signature-def region and the fields that point at them relocated.
 */
public final class SharedModelFile {
  private static final String INDEX_NAME = "dvn_cutout";
  // Index versions this class reads: 3 has no scale axis (outer rows); 4 names it (0 or -1);
  // 5 adds pooled quantization vectors and each signature's relocations of its fields.
  private static final List<Long> INDEX_VERSIONS = List.of(3L, 4L, 5L);
  private static final int ALIGN = 16;
  private static final int MODEL_VERSION = 3;
  // Model table fields of LiteRT's schema.fbs, in vtable order; 0 marks a field left out.
  private static final short[] MODEL_VTABLE = {20, 28, 4, 8, 12, 0, 16, 0, 20, 24};
  private static final short[] EMPTY_BUFFER_VTABLE = {4, 4};
  private static final short[] BUFFER_VTABLE = {10, 24, 0, 8, 16}; // no data; offset, size

  private final ByteBuffer content;
  private final Map<?, ?> index;
  private final Map<String, Map<?, ?>> signatures = new HashMap<>();

  /**
   * Reads the cut-out index of a shared file's bytes (for example memory-mapped).
   *
   * @throws ManifestException if the file has no readable index of this version
   */
  public SharedModelFile(ByteBuffer content) throws ManifestException {
    this.content = content.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    try {
      index = (Map<?, ?>) Json.parse(indexText(this.content));
      if (!INDEX_VERSIONS.contains(index.get("version"))) {
        throw new ManifestException(
            "the shared file's cut-out index has version " + index.get("version")
                + "; this app reads versions 3 to 5: export again.");
      }
      for (Object signature : (List<?>) index.get("signatures")) {
        signatures.put((String) ((Map<?, ?>) signature).get("key"), (Map<?, ?>) signature);
      }
    } catch (JsonException | ClassCastException | IndexOutOfBoundsException | NullPointerException e) {
      throw new ManifestException("the shared file's cut-out index cannot be read (" + e
          + "): copy the export again.", e);
    }
  }

  /** The signature keys of the file, one per (task, level). */
  public List<String> signatureKeys() {
    return new ArrayList<>(new TreeSet<>(signatures.keySet()));
  }

  /** The standalone .tflite of signature {@code key}. */
  public byte[] cutout(String key) throws ManifestException {
    Map<?, ?> signature = signatures.get(key);
    if (signature == null) {
      throw new ManifestException(
          "the shared file has no signature '" + key + "'; it has " + signatureKeys()
              + ": copy the export again.");
    }
    try {
      return cut(signature);
    } catch (ClassCastException | IndexOutOfBoundsException | NullPointerException e) {
      throw new ManifestException("the shared file's cut-out index does not fit the file (" + e
          + "): copy the export again.", e);
    }
  }

  private static String indexText(ByteBuffer content) throws ManifestException {
    int model = content.getInt(0);
    int metadata = vector(content, model, 6);
    int buffers = vector(content, model, 4);
    for (int i = 0; metadata >= 0 && i < content.getInt(metadata); i++) {
      int entry = element(content, metadata, i);
      int name = field(content, entry, 0);
      if (name != 0 && INDEX_NAME.equals(string(content, entry + name))) {
        int buffer = element(content, buffers, content.getInt(entry + field(content, entry, 1)));
        int offset = (int) content.getLong(buffer + field(content, buffer, 1));
        byte[] text = new byte[(int) content.getLong(buffer + field(content, buffer, 2))];
        content.duplicate().position(offset).get(text);
        return new String(text, StandardCharsets.UTF_8);
      }
    }
    throw new ManifestException(
        "the model file has no cut-out index (metadata 'dvn_cutout'): it is not a shared file"
            + " of 'python -m export --layout=shared'.");
  }

  /** Position of field {@code number}'s value relative to its table, 0 when absent. */
  private static int field(ByteBuffer content, int table, int number) {
    int vtable = table - content.getInt(table);
    return 4 + 2 * number < content.getShort(vtable) ? content.getShort(vtable + 4 + 2 * number)
        : 0;
  }

  /** Position of the vector in a table's field, -1 when absent. */
  private static int vector(ByteBuffer content, int table, int number) {
    int at = field(content, table, number);
    return at == 0 ? -1 : table + at + content.getInt(table + at);
  }

  private static int element(ByteBuffer content, int vector, int i) {
    int slot = vector + 4 + 4 * i;
    return slot + content.getInt(slot);
  }

  private static String string(ByteBuffer content, int at) {
    int position = at + content.getInt(at);
    byte[] bytes = new byte[content.getInt(position)];
    content.duplicate().position(position + 4).get(bytes);
    return new String(bytes, StandardCharsets.UTF_8);
  }

  private static int aligned(long position, int alignment) {
    return (int) ((position + alignment - 1) / alignment * alignment);
  }

  private static int[] numbers(Object list) {
    List<?> values = (List<?>) list;
    int[] result = new int[values.size()];
    for (int i = 0; i < result.length; i++) {
      result[i] = ((Long) values.get(i)).intValue();
    }
    return result;
  }

  private byte[] cut(Map<?, ?> signature) {
    List<?> data = (List<?>) index.get("data");
    Map<?, ?> codes = (Map<?, ?>) index.get("operator_codes");
    Map<?, ?> metadata = (Map<?, ?>) index.get("metadata");
    TreeSet<Integer> usedSet = new TreeSet<>();
    for (int b : numbers(signature.get("buffers"))) {
      usedSet.add(b);
    }
    for (int b : numbers(metadata.get("buffers"))) {
      usedSet.add(b);
    }
    int[] used = usedSet.stream().mapToInt(Integer::intValue).toArray();
    List<?> recipes = (List<?>) signature.get("made");
    byte[][] made = new byte[recipes.size()][];
    for (int i = 0; i < made.length; i++) {
      made[i] = madeBytes((Map<?, ?>) recipes.get(i), data);
    }
    int count = used.length + made.length;
    int[] codeTables = numbers(codes.get("tables"));
    int[] metadataTables = numbers(metadata.get("tables"));
    int[] definitionRegion = numbers(signature.get("signature_def"));
    int[][] regions = {
      numbers(codes.get("region")), numbers(metadata.get("region")),
      numbers(signature.get("region")), {definitionRegion[0], definitionRegion[1]}
    };
    int table = 8 + 2 * MODEL_VTABLE.length;
    int vectors = table + 28;
    int buffers = aligned(vectors + 4L * (5 + codeTables.length + 1 + data.size() + made.length
        + metadataTables.length + 1), 8);
    int empty = buffers + 4;
    int first = buffers + 24;
    int[] starts = new int[regions.length];
    int position = aligned(first + 24L * count, ALIGN);
    for (int r = 0; r < regions.length; r++) {
      starts[r] = position;
      position = aligned(position + regions[r][1] - regions[r][0], ALIGN);
    }
    List<?> pooled = index.containsKey("vectors") ? (List<?>) index.get("vectors") : List.of();
    List<?> relocations = signature.containsKey("relocations")
        ? (List<?>) signature.get("relocations") : List.of();
    TreeMap<Integer, Integer> vectorStarts = new TreeMap<>(); // pooled vector -> its position
    for (Object relocation : relocations) {
      vectorStarts.put(numbers(relocation)[1], 0);
    }
    for (Map.Entry<Integer, Integer> vector : vectorStarts.entrySet()) {
      vector.setValue(aligned(position + 4L, ALIGN) - 4);
      position = vector.getValue() + numbers(pooled.get(vector.getKey()))[1];
    }
    position = aligned(position, ALIGN);
    int[] dataStarts = new int[count];
    int[] sizes = new int[count];
    int[][] extents = new int[used.length][];
    for (int i = 0; i < count; i++) {
      if (i < used.length) {
        extents[i] = numbers(data.get(used[i]));
        sizes[i] = extents[i][1];
      } else {
        sizes[i] = made[i - used.length].length;
      }
      dataStarts[i] = position;
      position = aligned(position + sizes[i], ALIGN);
    }

    ByteBuffer out = ByteBuffer.allocate(position).order(ByteOrder.LITTLE_ENDIAN);
    out.putInt(0, table).put(4, "TFL3".getBytes(StandardCharsets.US_ASCII));
    for (int i = 0; i < MODEL_VTABLE.length; i++) {
      out.putShort(8 + 2 * i, MODEL_VTABLE[i]);
    }
    out.putInt(table, table - 8).putInt(table + 4, MODEL_VERSION);
    int[] targets = new int[data.size() + made.length];
    java.util.Arrays.fill(targets, empty);
    for (int i = 0; i < count; i++) {
      targets[i < used.length ? used[i] : data.size() + i - used.length] = first + 24 * i;
    }
    int[][] fields = {
      placed(codeTables, regions[0], starts[0]),
      {starts[2] + ((Long) signature.get("subgraph")).intValue() - regions[2][0]},
      targets,
      placed(metadataTables, regions[1], starts[1]),
      {starts[3] + definitionRegion[2] - regions[3][0]}
    };
    for (int f = 0; f < fields.length; f++) {
      out.putInt(table + 8 + 4 * f, vectors - (table + 8 + 4 * f));
      out.putInt(vectors, fields[f].length);
      for (int i = 0; i < fields[f].length; i++) {
        int slot = vectors + 4 + 4 * i;
        out.putInt(slot, fields[f][i] - slot);
      }
      vectors += 4 + 4 * fields[f].length;
    }
    out.putShort(buffers, EMPTY_BUFFER_VTABLE[0]).putShort(buffers + 2, EMPTY_BUFFER_VTABLE[1]);
    out.putInt(empty, empty - buffers);
    for (int i = 0; i < BUFFER_VTABLE.length; i++) {
      out.putShort(empty + 4 + 2 * i, BUFFER_VTABLE[i]);
    }
    for (int i = 0; i < count; i++) {
      int at = first + 24 * i;
      out.putInt(at, at - (empty + 4)).putLong(at + 8, dataStarts[i]).putLong(at + 16, sizes[i]);
    }
    for (int r = 0; r < regions.length; r++) {
      copy(out, starts[r], regions[r][0], regions[r][1] - regions[r][0]);
    }
    if (definitionRegion[3] != 0) { // its subgraph index: the cut-out has subgraph 0
      out.putInt(starts[3] + definitionRegion[3] - regions[3][0], 0);
    }
    for (Map.Entry<Integer, Integer> vector : vectorStarts.entrySet()) {
      int[] extent = numbers(pooled.get(vector.getKey()));
      copy(out, vector.getValue(), extent[0], extent[1]);
    }
    for (Object relocation : relocations) { // a quantization field: the offset to its vector
      int[] entry = numbers(relocation);
      int slot = starts[2] + entry[0] - regions[2][0];
      out.putInt(slot, vectorStarts.get(entry[1]) - slot);
    }
    for (int i = 0; i < used.length; i++) {
      copy(out, dataStarts[i], extents[i][0], extents[i][1]);
    }
    for (int i = 0; i < made.length; i++) {
      out.duplicate().position(dataStarts[used.length + i]).put(made[i]);
    }
    return out.array();
  }

  /** A made buffer's bytes for a recipe (an index entry of "made") over this file's buffers. */
  byte[] madeBytes(Map<?, ?> recipe) {
    return madeBytes(recipe, (List<?>) index.get("data"));
  }

  /**
   * A made buffer's bytes: its blocks side by side along the last axis, outer rows (scale axis 0)
   * or last-axis channels (axis -1, a depthwise kernel) scaled.
   */
  private byte[] madeBytes(Map<?, ?> recipe, List<?> data) {
    boolean half = "float16".equals(recipe.get("type"));
    int size = half ? 2 : 4;
    int[] shape = numbers(recipe.get("shape"));
    int rows = 1;
    for (int k = 0; k < shape.length - 1; k++) {
      rows *= shape[k];
    }
    int width = shape[shape.length - 1];
    float[] scale = null;
    boolean channelScale = false;
    List<?> scaleEntry = (List<?>) recipe.get("scale");
    if (scaleEntry != null) {
      boolean halfScale = "float16".equals(scaleEntry.get(1));
      long axis = scaleEntry.size() > 2 ? (Long) scaleEntry.get(2) : 0L;
      if (axis != 0 && axis != -1) {
        throw new IndexOutOfBoundsException(
            "a recipe scales axis " + axis + "; this app scales axes 0 and -1");
      }
      channelScale = axis == -1;
      int count = channelScale ? width : shape[0];
      int[] extent = numbers(data.get(((Long) scaleEntry.get(0)).intValue()));
      checkSize(extent, count * (halfScale ? 2 : 4));
      scale = new float[count];
      for (int o = 0; o < scale.length; o++) {
        scale[o] = halfScale ? halfToFloat(content.getShort(extent[0] + 2 * o))
            : content.getFloat(extent[0] + 4 * o);
      }
    }
    int rowsPerOuter = rows / shape[0];
    ByteBuffer out = ByteBuffer.allocate(rows * width * size).order(ByteOrder.LITTLE_ENDIAN);
    int column = 0;
    for (Object block : (List<?>) recipe.get("blocks")) {
      int[] entry = numbers(block);
      int blockWidth = entry[1];
      int[] extent = numbers(data.get(entry[0]));
      checkSize(extent, rows * blockWidth * size);
      for (int r = 0; r < rows; r++) {
        int from = extent[0] + r * blockWidth * size;
        int to = (r * width + column) * size;
        if (scale == null) {
          copy(out, to, from, blockWidth * size);
          continue;
        }
        for (int c = 0; c < blockWidth; c++) {
          float factor = channelScale ? scale[column + c] : scale[r / rowsPerOuter];
          if (half) {
            out.putShort(to + 2 * c, floatToHalf(halfToFloat(content.getShort(from + 2 * c)) * factor));
          } else {
            out.putFloat(to + 4 * c, content.getFloat(from + 4 * c) * factor);
          }
        }
      }
      column += blockWidth;
    }
    if (column != width) {
      throw new IndexOutOfBoundsException("a recipe's blocks do not add up to its width " + width);
    }
    return out.array();
  }

  private static void checkSize(int[] extent, int expected) {
    if (extent[1] != expected) {
      throw new IndexOutOfBoundsException(
          "a buffer has " + extent[1] + " bytes; a recipe reads " + expected);
    }
  }

  /** An IEEE half-precision value (its bits) as a float; exact. */
  static float halfToFloat(short bits) {
    int sign = (bits & 0x8000) << 16;
    int exponent = (bits >>> 10) & 0x1f;
    int mantissa = bits & 0x3ff;
    if (exponent == 0x1f) {
      return Float.intBitsToFloat(sign | 0x7f800000 | (mantissa << 13));
    }
    if (exponent == 0) {
      return Math.copySign(mantissa * 0x1p-24f, sign != 0 ? -1f : 1f);
    }
    return Float.intBitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
  }

  /** A float rounded to the nearest half-precision value (ties to even), as numpy does. */
  static short floatToHalf(float value) {
    int bits = Float.floatToRawIntBits(value);
    int sign = (bits >>> 16) & 0x8000;
    int exponent = ((bits >>> 23) & 0xff) - 112;
    int mantissa = bits & 0x7fffff;
    if (exponent == 0xff - 112) { // infinity or NaN
      return (short) (sign | 0x7c00 | (mantissa == 0 ? 0 : Math.max(1, mantissa >>> 13)));
    }
    if (exponent >= 0x1f) {
      return (short) (sign | 0x7c00);
    }
    if (exponent < -10) {
      return (short) sign;
    }
    int shift = 13;
    int result = (Math.max(exponent, 0) << 10) | (mantissa >>> 13);
    if (exponent <= 0) { // a subnormal half: the implicit bit joins the mantissa
      mantissa |= 0x800000;
      shift = 14 - exponent;
      result = mantissa >>> shift;
    }
    int rest = mantissa & ((1 << shift) - 1);
    int halfway = 1 << (shift - 1);
    if (rest > halfway || (rest == halfway && (result & 1) != 0)) {
      result++; // a carry into the exponent is the right rounding, up to infinity
    }
    return (short) (sign | result);
  }

  private static int[] placed(int[] tables, int[] region, int start) {
    int[] result = new int[tables.length];
    for (int i = 0; i < tables.length; i++) {
      result[i] = start + tables[i] - region[0];
    }
    return result;
  }

  private void copy(ByteBuffer out, int at, int from, int length) {
    ByteBuffer source = content.duplicate();
    source.position(from).limit(from + length);
    out.duplicate().position(at).put(source);
  }
}
