package org.dvn.demo.core;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Reads an export's manifest.json (format 1, per-level layout, see DESIGN.md; or format 2, the
 * shared layout of the repository's docs/export.md) and checks it: the format version,
 * every field's presence, type and range, and the consistency between tasks and models. Any
 * problem becomes a {@link ManifestException} that names the field and says what to do.
 */
public final class ManifestReader {
  private static final String REEXPORT =
      "Re-export with 'python -m export --workdir=DIR' and copy DIR/tflite in with"
          + " android_demo/import-export.sh.";
  private static final Pattern SHA256 = Pattern.compile("[0-9a-fA-F]{64}");

  private ManifestReader() {}

  /** Reads and checks a manifest from UTF-8 bytes; the stream is read to its end, not closed. */
  public static Manifest read(InputStream in) throws IOException, ManifestException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    byte[] buffer = new byte[8192];
    for (int n; (n = in.read(buffer)) > 0; ) {
      bytes.write(buffer, 0, n);
    }
    return parse(new String(bytes.toByteArray(), StandardCharsets.UTF_8));
  }

  /** Parses and checks the text of a manifest. */
  public static Manifest parse(String json) throws ManifestException {
    Object root;
    try {
      root = Json.parse(json);
    } catch (JsonException e) {
      throw new ManifestException("manifest.json is not valid JSON: " + e.getMessage(), e);
    }
    if (!(root instanceof Map)) {
      throw fail("(root)", "must be a JSON object, got " + describe(root));
    }
    Map<?, ?> manifest = (Map<?, ?>) root;
    long format = integer(manifest, "format", "format");
    if (format != Manifest.FORMAT && format != Manifest.SHARED_FORMAT) {
      throw new ManifestException(
          "manifest.json has format "
              + format
              + ", but this app reads formats "
              + Manifest.FORMAT
              + " and "
              + Manifest.SHARED_FORMAT
              + ". Use an app built for that format, or export with the dvn version that"
              + " matches this app.");
    }
    boolean shared = format == Manifest.SHARED_FORMAT;
    String layout = shared ? "shared" : "per-level";
    if (manifest.containsKey("layout") && !layout.equals(string(manifest, "layout", "layout"))) {
      throw fail("layout", "must be '" + layout + "' in format " + format + ".");
    }
    Map<String, FileEntry> sharedFiles = new LinkedHashMap<>();
    if (shared) {
      List<?> files = list(manifest, "files", "files");
      for (int i = 0; i < files.size(); i++) {
        String path = "files[" + i + "]";
        Map<?, ?> entry = asObject(files.get(i), path);
        String file = fileName(entry, path);
        sharedFiles.put(
            file, new FileEntry(file, sha256(entry, path), atLeast(entry, "bytes", path, 1)));
      }
      if (sharedFiles.isEmpty()) {
        throw fail("files", "is empty: a shared-layout manifest lists its shared file.");
      }
    }
    String scenario = string(manifest, "scenario", "scenario");
    InputSpec sharedInput =
        manifest.containsKey("input") ? input(object(manifest, "input", "input"), "input") : null;

    Map<String, List<String>> labelsByTask = new LinkedHashMap<>();
    Map<String, InputSpec> inputByTask = new LinkedHashMap<>();
    List<?> tasks = list(manifest, "tasks", "tasks");
    if (tasks.isEmpty()) {
      throw fail("tasks", "is empty: the manifest must describe at least one task.");
    }
    for (int i = 0; i < tasks.size(); i++) {
      String path = "tasks[" + i + "]";
      Map<?, ?> task = asObject(tasks.get(i), path);
      String name = string(task, "name", path + ".name");
      if (labelsByTask.containsKey(name)) {
        throw fail(path + ".name", "repeats task '" + name + "': task names must be unique.");
      }
      labelsByTask.put(name, labels(task, path));
      if (task.containsKey("input")) {
        inputByTask.put(name, input(object(task, "input", path + ".input"), path + ".input"));
      } else if (sharedInput != null) {
        inputByTask.put(name, sharedInput);
      } else {
        throw fail(
            path,
            "(task '"
                + name
                + "') has no 'input' and the manifest has no top-level 'input': give the input"
                + " shape, dtype, mean and std at the top level or in every task.");
      }
    }

    Map<String, Map<Integer, ModelInfo>> modelsByTask = new LinkedHashMap<>();
    for (String name : labelsByTask.keySet()) {
      modelsByTask.put(name, new TreeMap<>());
    }
    List<?> models = list(manifest, "models", "models");
    for (int i = 0; i < models.size(); i++) {
      String path = "models[" + i + "]";
      ModelInfo model = model(asObject(models.get(i), path), path, sharedFiles);
      Map<Integer, ModelInfo> levels = modelsByTask.get(model.task());
      if (levels == null) {
        throw fail(
            path + ".task",
            "is '"
                + model.task()
                + "', which is not among the tasks "
                + labelsByTask.keySet()
                + ": every model must belong to a listed task.");
      }
      int classes = labelsByTask.get(model.task()).size();
      if (model.perClassRecall() != null && model.perClassRecall().size() != classes) {
        throw fail(
            path + ".per_class_recall",
            "has "
                + model.perClassRecall().size()
                + " values but task '"
                + model.task()
                + "' has "
                + classes
                + " classes: give one recall per class, in logit order.");
      }
      if (levels.put(model.level(), model) != null) {
        throw fail(
            path,
            "repeats (task '"
                + model.task()
                + "', level "
                + model.level()
                + "): each (task, level) must appear once.");
      }
    }

    List<TaskInfo> taskInfos = new ArrayList<>();
    for (Map.Entry<String, Map<Integer, ModelInfo>> entry : modelsByTask.entrySet()) {
      String name = entry.getKey();
      Map<Integer, ModelInfo> levels = entry.getValue();
      if (levels.isEmpty()) {
        throw fail("models", "has no model for task '" + name + "': every task needs levels 1..N.");
      }
      for (int level = 1; level <= levels.size(); level++) {
        if (!levels.containsKey(level)) {
          throw fail(
              "models",
              "for task '"
                  + name
                  + "' lack level "
                  + level
                  + " (levels present: "
                  + levels.keySet()
                  + "): levels must run 1..N without gaps.");
        }
      }
      taskInfos.add(
          new TaskInfo(
              name,
              labelsByTask.get(name),
              inputByTask.get(name),
              new ArrayList<>(levels.values())));
    }
    return new Manifest(scenario, taskInfos, new ArrayList<>(sharedFiles.values()));
  }

  private static List<String> labels(Map<?, ?> task, String path) throws ManifestException {
    long numClasses = integer(task, "num_classes", path + ".num_classes");
    if (numClasses < 1) {
      throw fail(path + ".num_classes", "must be >= 1, got " + numClasses + ".");
    }
    List<?> labels = list(task, "labels", path + ".labels");
    if (labels.size() != numClasses) {
      throw fail(
          path + ".labels",
          "has "
              + labels.size()
              + " names but num_classes is "
              + numClasses
              + ": give one label per class, in logit order.");
    }
    List<String> names = new ArrayList<>();
    for (int i = 0; i < labels.size(); i++) {
      Object label = labels.get(i);
      if (!(label instanceof String)) {
        throw fail(path + ".labels[" + i + "]", "must be a string, got " + describe(label) + ".");
      }
      names.add((String) label);
    }
    return names;
  }

  private static InputSpec input(Map<?, ?> input, String path) throws ManifestException {
    List<?> shape = list(input, "shape", path + ".shape");
    if (shape.size() != 4) {
      throw fail(path + ".shape", "must be [1, H, W, C], got " + shape + ".");
    }
    int[] dims = new int[4];
    for (int i = 0; i < 4; i++) {
      Object dim = shape.get(i);
      if (!(dim instanceof Long) || (Long) dim < 1 || (Long) dim > Integer.MAX_VALUE) {
        throw fail(path + ".shape", "must hold positive integers [1, H, W, C], got " + shape + ".");
      }
      dims[i] = ((Long) dim).intValue();
    }
    if (dims[0] != 1) {
      throw fail(
          path + ".shape",
          "must have batch size 1, got "
              + shape
              + ": this app classifies one image at a time; export with --batch=1 (the"
              + " default).");
    }
    int channels = dims[3];
    if (channels != 1 && channels != 3) {
      throw fail(
          path + ".shape", "must have 1 (gray) or 3 (RGB) channels, got " + channels + ".");
    }
    String dtype = string(input, "dtype", path + ".dtype");
    float[] mean = perChannel(input, "mean", path, channels);
    float[] std = perChannel(input, "std", path, channels);
    for (int c = 0; c < channels; c++) {
      if (!(std[c] > 0)) {
        throw fail(path + ".std", "must be > 0 in every channel, got " + std[c] + ".");
      }
    }
    return new InputSpec(dims[1], dims[2], channels, dtype, mean, std);
  }

  private static float[] perChannel(Map<?, ?> input, String key, String path, int channels)
      throws ManifestException {
    List<?> values = list(input, key, path + "." + key);
    if (values.size() != channels) {
      throw fail(
          path + "." + key,
          "has " + values.size() + " values but the input has " + channels + " channels.");
    }
    float[] result = new float[channels];
    for (int c = 0; c < channels; c++) {
      result[c] = (float) finite(values.get(c), path + "." + key + "[" + c + "]");
    }
    return result;
  }

  private static ModelInfo model(Map<?, ?> model, String path, Map<String, FileEntry> sharedFiles)
      throws ManifestException {
    String task = string(model, "task", path + ".task");
    long level = integer(model, "level", path + ".level");
    if (level < 1 || level > Integer.MAX_VALUE) {
      throw fail(path + ".level", "must be a level >= 1, got " + level + ".");
    }
    String file = fileName(model, path);
    String signature = null;
    if (!sharedFiles.isEmpty()) {
      signature = string(model, "signature", path + ".signature");
      if (!sharedFiles.containsKey(file)) {
        throw fail(path + ".file", "is '" + file + "', not one of the files "
            + sharedFiles.keySet() + ".");
      }
    }
    return new ModelInfo(
        task,
        (int) level,
        file,
        sha256(model, path),
        atLeast(model, "bytes", path, 1),
        atLeast(model, "params", path, 0),
        atLeast(model, "flops", path, 0),
        string(model, "quantize", path + ".quantize"),
        fraction(model, "accuracy_keras", path),
        fraction(model, "accuracy_tflite", path),
        nonNegative(model, "latency_ms", path),
        atLeast(model, "arena_bytes", path, 0),
        signature,
        model.containsKey("per_class_recall") ? recalls(model, path) : null);
  }

  /** The optional per_class_recall: numbers in [0, 1], null for a class without examples. */
  private static List<Double> recalls(Map<?, ?> model, String path) throws ManifestException {
    String where = path + ".per_class_recall";
    List<Double> recalls = new ArrayList<>();
    for (Object value : list(model, "per_class_recall", where)) {
      if (value == null) {
        recalls.add(null);
        continue;
      }
      double recall = finite(value, where);
      if (recall < 0 || recall > 1) {
        throw fail(where, "must hold recalls in [0, 1] or null, got " + recall + ".");
      }
      recalls.add(recall);
    }
    return recalls;
  }

  private static String fileName(Map<?, ?> entry, String path) throws ManifestException {
    String file = string(entry, "file", path + ".file");
    if (!file.endsWith(".tflite")
        || file.contains("/")
        || file.contains("\\")
        || file.startsWith(".")) {
      throw fail(
          path + ".file",
          "must be a plain file name ending in .tflite, beside manifest.json, got '"
              + file
              + "'.");
    }
    return file;
  }

  private static String sha256(Map<?, ?> entry, String path) throws ManifestException {
    String sha256 = string(entry, "sha256", path + ".sha256");
    if (!SHA256.matcher(sha256).matches()) {
      throw fail(path + ".sha256", "must be 64 hex digits, got '" + sha256 + "'.");
    }
    return sha256;
  }

  private static long atLeast(Map<?, ?> object, String key, String path, long minimum)
      throws ManifestException {
    long value = integer(object, key, path + "." + key);
    if (value < minimum) {
      throw fail(path + "." + key, "must be >= " + minimum + ", got " + value + ".");
    }
    return value;
  }

  private static double fraction(Map<?, ?> object, String key, String path)
      throws ManifestException {
    double value = finite(field(object, key, path + "." + key), path + "." + key);
    if (value < 0 || value > 1) {
      throw fail(path + "." + key, "must be an accuracy in [0, 1], got " + value + ".");
    }
    return value;
  }

  private static double nonNegative(Map<?, ?> object, String key, String path)
      throws ManifestException {
    double value = finite(field(object, key, path + "." + key), path + "." + key);
    if (value < 0) {
      throw fail(path + "." + key, "must be >= 0, got " + value + ".");
    }
    return value;
  }

  private static double finite(Object value, String path) throws ManifestException {
    if (!(value instanceof Number) || !Double.isFinite(((Number) value).doubleValue())) {
      throw fail(path, "must be a finite number, got " + describe(value) + ".");
    }
    return ((Number) value).doubleValue();
  }

  private static long integer(Map<?, ?> object, String key, String path)
      throws ManifestException {
    Object value = field(object, key, path);
    if (!(value instanceof Long)) {
      throw fail(path, "must be an integer, got " + describe(value) + ".");
    }
    return (Long) value;
  }

  private static String string(Map<?, ?> object, String key, String path)
      throws ManifestException {
    Object value = field(object, key, path);
    if (!(value instanceof String) || ((String) value).isEmpty()) {
      throw fail(path, "must be a non-empty string, got " + describe(value) + ".");
    }
    return (String) value;
  }

  private static List<?> list(Map<?, ?> object, String key, String path)
      throws ManifestException {
    Object value = field(object, key, path);
    if (!(value instanceof List)) {
      throw fail(path, "must be a list, got " + describe(value) + ".");
    }
    return (List<?>) value;
  }

  private static Map<?, ?> object(Map<?, ?> object, String key, String path)
      throws ManifestException {
    return asObject(field(object, key, path), path);
  }

  private static Map<?, ?> asObject(Object value, String path) throws ManifestException {
    if (!(value instanceof Map)) {
      throw fail(path, "must be an object, got " + describe(value) + ".");
    }
    return (Map<?, ?>) value;
  }

  private static Object field(Map<?, ?> object, String key, String path)
      throws ManifestException {
    if (!object.containsKey(key)) {
      throw fail(path, "is missing.");
    }
    return object.get(key);
  }

  private static String describe(Object value) {
    if (value == null) {
      return "null";
    }
    if (value instanceof String) {
      return "the string \"" + value + "\"";
    }
    if (value instanceof Map) {
      return "an object";
    }
    if (value instanceof List) {
      return "a list";
    }
    return value.toString();
  }

  private static ManifestException fail(String path, String what) {
    return new ManifestException("manifest.json: " + path + " " + what + " " + REEXPORT);
  }
}
