package org.dvn.demo;

import android.app.Activity;
import android.content.ComponentCallbacks2;
import android.content.Intent;
import android.graphics.Bitmap;
import android.net.Uri;
import android.os.Build;
import android.os.Bundle;
import android.os.Handler;
import android.os.Looper;
import android.provider.MediaStore;
import android.text.format.Formatter;
import android.view.View;
import android.widget.AdapterView;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.ImageView;
import android.widget.SeekBar;
import android.widget.Spinner;
import android.widget.TextView;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.time.LocalTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import org.dvn.demo.core.Inference;
import org.dvn.demo.core.LevelController;
import org.dvn.demo.core.Manifest;
import org.dvn.demo.core.ManifestException;
import org.dvn.demo.core.ManifestReader;
import org.dvn.demo.core.ModelInfo;
import org.dvn.demo.core.ModelSwitcher;
import org.dvn.demo.core.Prediction;
import org.dvn.demo.core.Preprocessing;
import org.dvn.demo.core.SwitchEvent;
import org.dvn.demo.core.TaskInfo;

/**
 * The demo screen: pick a task and an image, see the top-5 predictions of the level that the
 * memory budget allows, and watch the level follow available memory as the pressure control
 * allocates and frees ballast.
 *
 * <p>Threads: the UI thread only draws. {@code switching} (one thread) takes memory readings,
 * resizes the ballast, changes task and loads models. {@code inference} (one thread) decodes
 * images and classifies. A switch never cuts off an inference: {@link ModelSwitcher} keeps the
 * old model open until the inference running on it returns.
 */
public final class MainActivity extends Activity {
  private static final int REQUEST_PICK_IMAGE = 1;
  private static final int DECODE_MIN_SIDE = 256;

  private final ExecutorService switching = Executors.newSingleThreadExecutor();
  private final ExecutorService inference = Executors.newSingleThreadExecutor();
  private final Handler ui = new Handler(Looper.getMainLooper());
  private final Ballast ballast = new Ballast(DemoSettings.BALLAST_CHUNK_BYTES);
  private final ArrayDeque<String> logLines = new ArrayDeque<>();
  private final Runnable poll =
      new Runnable() {
        @Override
        public void run() {
          submit(switching, () -> takeReading(false));
          ui.postDelayed(this, DemoSettings.POLL_INTERVAL_MS);
        }
      };

  private MemoryProbe memoryProbe;
  private volatile Manifest manifest;
  private volatile ModelSwitcher switcher;
  private volatile Bitmap image;
  /** Used on the switching thread only. */
  private LevelController controller;

  private TextView status;
  private Spinner taskSpinner;
  private Spinner sampleSpinner;
  private TextView samplesHint;
  private ImageView preview;
  private TextView predictions;
  private TextView modelInfo;
  private TextView memoryInfo;
  private TextView pressureLabel;
  private TextView log;

  @Override
  protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    setContentView(R.layout.activity_main);
    status = findViewById(R.id.status);
    taskSpinner = findViewById(R.id.task_spinner);
    sampleSpinner = findViewById(R.id.sample_spinner);
    samplesHint = findViewById(R.id.samples_hint);
    preview = findViewById(R.id.preview);
    predictions = findViewById(R.id.predictions);
    modelInfo = findViewById(R.id.model_info);
    memoryInfo = findViewById(R.id.memory_info);
    pressureLabel = findViewById(R.id.pressure_label);
    log = findViewById(R.id.log);
    Button galleryButton = findViewById(R.id.gallery_button);
    galleryButton.setOnClickListener(view -> pickFromGallery());
    memoryProbe = new MemoryProbe(this);
    setUpPressureBar(findViewById(R.id.pressure_bar));
    appendLog("policy: " + DemoSettings.POLICY);
    submit(switching, this::loadExport);
  }

  @Override
  protected void onStart() {
    super.onStart();
    ui.post(poll);
  }

  @Override
  protected void onStop() {
    ui.removeCallbacks(poll);
    super.onStop();
  }

  @Override
  protected void onDestroy() {
    submit(
        switching,
        () -> {
          ModelSwitcher current = switcher;
          if (current != null) {
            current.close(); // Closes the model once an inference in flight has returned.
          }
        });
    switching.shutdown();
    inference.shutdown();
    super.onDestroy();
  }

  /**
   * The system asks the app to use less memory. Every trim level takes a reading at once; when
   * memory is critical (or the app went to the background) the reading counts as zero bytes, so
   * the smallest allowed level is loaded now. Android 14+ delivers only UI_HIDDEN and BACKGROUND.
   */
  @Override
  @SuppressWarnings("deprecation") // RUNNING_CRITICAL: still delivered before Android 14.
  public void onTrimMemory(int level) {
    super.onTrimMemory(level);
    boolean critical =
        level == ComponentCallbacks2.TRIM_MEMORY_RUNNING_CRITICAL
            || level >= ComponentCallbacks2.TRIM_MEMORY_BACKGROUND;
    appendLog("onTrimMemory(" + level + ")" + (critical ? ": step down to the smallest level" : ""));
    submit(switching, () -> takeReading(critical));
  }

  @Override
  protected void onActivityResult(int requestCode, int resultCode, Intent data) {
    super.onActivityResult(requestCode, resultCode, data);
    if (requestCode != REQUEST_PICK_IMAGE || resultCode != RESULT_OK || data == null) {
      return;
    }
    Uri uri = data.getData();
    if (uri != null) {
      loadImage("gallery image", () -> getContentResolver().openInputStream(uri));
    }
  }

  // ---- Switching thread -----------------------------------------------------------------

  /** Reads and checks the imported export, then offers its tasks. */
  private void loadExport() {
    String folder = DemoSettings.EXPORT_ASSET_DIR;
    Manifest loaded;
    try (InputStream in = getAssets().open(folder + "/manifest.json")) {
      loaded = ManifestReader.read(in);
      requireModelFiles(loaded, folder);
    } catch (FileNotFoundException e) {
      ui.post(() -> status.setText(R.string.no_export));
      return;
    } catch (IOException | ManifestException e) {
      String message = e.getMessage();
      ui.post(() -> status.setText(message));
      return;
    }
    switcher =
        new ModelSwitcher(
            new LiteRtModelLoader(
                getAssets(), folder, loaded, DemoSettings.INTERPRETER_THREADS),
            this::onSwitch);
    manifest = loaded;
    ui.post(() -> showTasks(loaded));
  }

  private void requireModelFiles(Manifest loaded, String folder)
      throws IOException, ManifestException {
    String[] listed = getAssets().list(folder);
    Set<String> present = new HashSet<>(Arrays.asList(listed == null ? new String[0] : listed));
    for (ModelInfo model : loaded.models()) {
      if (!present.contains(model.file())) {
        throw new ManifestException(
            "manifest.json lists "
                + model.file()
                + " but the app's assets lack it: run import-export.sh again and rebuild.");
      }
    }
  }

  /** Starts serving {@code taskName}: a new policy whose first reading picks the level. */
  private void selectTask(String taskName) {
    try {
      controller = new LevelController(manifest.task(taskName), DemoSettings.POLICY, switcher);
    } catch (IllegalArgumentException e) {
      postLog("task " + taskName + " cannot run: " + e.getMessage() + " (see DemoSettings)");
      return;
    }
    takeReading(false);
  }

  /**
   * Reads available memory and lets the policy switch level.
   *
   * @param critical count this reading as 0 bytes (a critical onTrimMemory)
   */
  private void takeReading(boolean critical) {
    MemoryProbe.Reading reading = memoryProbe.read();
    long held = ballast.heldBytes();
    ui.post(() -> showMemory(reading, held));
    if (controller == null) {
      return;
    }
    try {
      controller.onReading(critical ? 0 : reading.available());
    } catch (IOException e) {
      postLog("load failed, the current model keeps serving: " + e.getMessage());
    }
  }

  /** Reports a switch, refreshes the model details, and classifies the image again. */
  private void onSwitch(SwitchEvent event) {
    postLog(event.toString());
    ui.post(this::showServingModel);
    submit(inference, this::classify);
  }

  private void resizeBallast(long targetBytes) {
    long held = ballast.resize(targetBytes);
    if (held < targetBytes - DemoSettings.BALLAST_CHUNK_BYTES) {
      postLog("heap full: ballast stopped at " + Formatter.formatShortFileSize(this, held));
    }
    takeReading(false);
  }

  // ---- Inference thread -----------------------------------------------------------------

  private void loadImage(String name, Images.Source source) {
    submit(
        inference,
        () -> {
          try {
            Bitmap decoded = Images.decode(source, DECODE_MIN_SIDE);
            image = decoded;
            ui.post(() -> preview.setImageBitmap(decoded));
            classify();
          } catch (IOException e) {
            postLog("cannot read " + name + ": " + e.getMessage());
          }
        });
  }

  /** Classifies the current image with the model being served, if both exist. */
  private void classify() {
    Bitmap bitmap = image;
    ModelSwitcher current = switcher;
    ModelInfo serving = current == null ? null : current.currentModel();
    if (bitmap == null || serving == null) {
      return;
    }
    TaskInfo task = manifest.task(serving.task());
    float[] input =
        Preprocessing.normalize(
            Images.pixels(bitmap, task.input().width(), task.input().height()), task.input());
    Inference result;
    try {
      result = current.run(input);
    } catch (IllegalStateException closed) {
      return; // The activity is going away.
    } catch (IllegalArgumentException e) {
      ModelInfo now = current.currentModel();
      if (now == null || now.task().equals(task.name())) {
        postLog("inference failed: " + e.getMessage());
      } // Else another task took over meanwhile; its switch queued a fresh classification.
      return;
    }
    if (!result.model().task().equals(task.name())) {
      return; // Another task took over meanwhile; its switch queued a fresh classification.
    }
    List<Prediction> top =
        Prediction.topK(
            Prediction.probabilities(result.scores()), task.labels(), DemoSettings.TOP_K);
    ui.post(() -> showPredictions(result, top));
  }

  // ---- UI thread ------------------------------------------------------------------------

  private void showTasks(Manifest loaded) {
    status.setText(
        getString(
            R.string.export_loaded,
            loaded.scenario(),
            loaded.tasks().size(),
            loaded.models().size()));
    taskSpinner.setAdapter(
        new ArrayAdapter<>(this, android.R.layout.simple_spinner_item, loaded.taskNames()));
    taskSpinner.setOnItemSelectedListener(
        new AdapterView.OnItemSelectedListener() {
          @Override
          public void onItemSelected(AdapterView<?> parent, View view, int position, long id) {
            String taskName = loaded.taskNames().get(position);
            submit(switching, () -> selectTask(taskName));
            showSamples(taskName);
          }

          @Override
          public void onNothingSelected(AdapterView<?> parent) {}
        });
  }

  /** Lists the bundled samples of a task (assets/dvn/samples/TASK/) and loads the first. */
  private void showSamples(String taskName) {
    String folder = DemoSettings.SAMPLES_ASSET_DIR + "/" + taskName;
    List<String> names = new ArrayList<>();
    try {
      String[] listed = getAssets().list(folder);
      if (listed != null) {
        names.addAll(Arrays.asList(listed));
      }
    } catch (IOException e) {
      appendLog("cannot list samples of " + taskName + ": " + e.getMessage());
    }
    samplesHint.setVisibility(names.isEmpty() ? View.VISIBLE : View.GONE);
    sampleSpinner.setAdapter(new ArrayAdapter<>(this, android.R.layout.simple_spinner_item, names));
    sampleSpinner.setOnItemSelectedListener(
        new AdapterView.OnItemSelectedListener() {
          @Override
          public void onItemSelected(AdapterView<?> parent, View view, int position, long id) {
            String path = folder + "/" + names.get(position);
            loadImage(path, () -> getAssets().open(path));
          }

          @Override
          public void onNothingSelected(AdapterView<?> parent) {}
        });
  }

  private void pickFromGallery() {
    // The Photo Picker where the platform has it (Android 13+), else any app that gives images.
    Intent intent =
        Build.VERSION.SDK_INT >= Build.VERSION_CODES.TIRAMISU
            ? new Intent(MediaStore.ACTION_PICK_IMAGES)
            : new Intent(Intent.ACTION_GET_CONTENT).addCategory(Intent.CATEGORY_OPENABLE);
    intent.setType("image/*");
    startActivityForResult(intent, REQUEST_PICK_IMAGE);
  }

  private void setUpPressureBar(SeekBar bar) {
    long maxBallast = Runtime.getRuntime().maxMemory() - DemoSettings.BALLAST_RESERVE_BYTES;
    int maxMib = (int) Math.max(0, maxBallast / DemoSettings.MIB);
    bar.setMax(maxMib);
    pressureLabel.setText(getString(R.string.pressure_label, 0, maxMib));
    bar.setOnSeekBarChangeListener(
        new SeekBar.OnSeekBarChangeListener() {
          @Override
          public void onProgressChanged(SeekBar seekBar, int progress, boolean fromUser) {
            pressureLabel.setText(getString(R.string.pressure_label, progress, maxMib));
          }

          @Override
          public void onStartTrackingTouch(SeekBar seekBar) {}

          @Override
          public void onStopTrackingTouch(SeekBar seekBar) {
            long target = seekBar.getProgress() * DemoSettings.MIB;
            submit(switching, () -> resizeBallast(target));
          }
        });
  }

  private void showServingModel() {
    ModelSwitcher current = switcher;
    ModelInfo serving = current == null ? null : current.currentModel();
    if (serving == null) {
      return;
    }
    TaskInfo task = manifest.task(serving.task());
    modelInfo.setText(
        getString(
            R.string.model_info,
            task.name(),
            serving.level(),
            task.models().size(),
            serving.params(),
            Formatter.formatShortFileSize(this, serving.bytes()),
            Formatter.formatShortFileSize(this, serving.arenaBytes()),
            serving.accuracyTflite() * 100));
  }

  private void showPredictions(Inference result, List<Prediction> top) {
    StringBuilder text = new StringBuilder();
    for (Prediction prediction : top) {
      text.append(
              getString(
                  R.string.prediction_line, prediction.label(), prediction.probability() * 100))
          .append('\n');
    }
    text.append(
        getString(R.string.inference_info, result.elapsedNanos() / 1e6, result.model().level()));
    predictions.setText(text);
  }

  private void showMemory(MemoryProbe.Reading reading, long ballastHeld) {
    memoryInfo.setText(
        getString(
            R.string.memory_info,
            Formatter.formatShortFileSize(this, reading.available()),
            Formatter.formatShortFileSize(this, reading.systemAvailable),
            reading.systemLow ? getString(R.string.system_low) : "",
            Formatter.formatShortFileSize(this, reading.heapHeadroom),
            Formatter.formatShortFileSize(this, ballastHeld)));
  }

  /** Queues work on one of the worker threads; dropped once the activity is destroyed. */
  private static void submit(ExecutorService executor, Runnable work) {
    try {
      executor.execute(work);
    } catch (RejectedExecutionException shutDown) {
      // onDestroy has shut the executor down: nothing is left to update.
    }
  }

  private void postLog(String line) {
    ui.post(() -> appendLog(line));
  }

  private void appendLog(String line) {
    logLines.addFirst(LocalTime.now().truncatedTo(ChronoUnit.SECONDS) + "  " + line);
    while (logLines.size() > DemoSettings.LOG_LINES) {
      logLines.removeLast();
    }
    log.setText(String.join("\n", logLines));
  }
}
