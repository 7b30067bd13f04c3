package org.dvn.demo;

import android.content.res.AssetFileDescriptor;
import android.content.res.AssetManager;
import java.io.FileInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.dvn.demo.core.Manifest;
import org.dvn.demo.core.ManifestException;
import org.dvn.demo.core.ModelInfo;
import org.dvn.demo.core.ModelLoader;
import org.dvn.demo.core.ModelRunner;
import org.dvn.demo.core.SharedModelFile;
import org.dvn.demo.core.TaskInfo;
import org.tensorflow.lite.DataType;
import org.tensorflow.lite.InterpreterApi;
import org.tensorflow.lite.Tensor;

/**
 * Loads models from the app's assets with LiteRT: memory-maps the .tflite file (stored
 * uncompressed in the APK) and creates an interpreter on it; in the shared layout, on the
 * model's signature cut out of the shared file ({@link SharedModelFile}). Float32, int8 and uint8 inputs and
 * outputs are supported; quantized ones are converted with the tensor's scale and zero point.
 */
final class LiteRtModelLoader implements ModelLoader {
  private final AssetManager assets;
  private final String folder;
  private final Manifest manifest;
  private final int threads;
  private final Map<String, SharedModelFile> sharedFiles = new HashMap<>();

  LiteRtModelLoader(AssetManager assets, String folder, Manifest manifest, int threads) {
    this.assets = assets;
    this.folder = folder;
    this.manifest = manifest;
    this.threads = threads;
  }

  @Override
  public ModelRunner load(ModelInfo model) throws IOException {
    ByteBuffer file = model.signature() == null ? map(folder + "/" + model.file()) : cutout(model);
    InterpreterApi interpreter;
    try {
      interpreter = InterpreterApi.create(file, new InterpreterApi.Options().setNumThreads(threads));
    } catch (IllegalArgumentException | IllegalStateException e) {
      throw new IOException(model.file() + " cannot be run by LiteRT: " + e.getMessage(), e);
    }
    try {
      return new LiteRtRunner(interpreter, manifest.task(model.task()), model);
    } catch (IOException e) {
      interpreter.close();
      throw e;
    }
  }

  /** The model's signature cut out of its shared file: LiteRT prepares only that level. */
  private ByteBuffer cutout(ModelInfo model) throws IOException {
    try {
      SharedModelFile shared;
      synchronized (sharedFiles) {
        shared = sharedFiles.get(model.file());
        if (shared == null) {
          shared = new SharedModelFile(map(folder + "/" + model.file()));
          sharedFiles.put(model.file(), shared);
        }
      }
      byte[] bytes = shared.cutout(model.signature());
      ByteBuffer content = ByteBuffer.allocateDirect(bytes.length).order(ByteOrder.nativeOrder());
      content.put(bytes).rewind();
      return content;
    } catch (ManifestException e) {
      throw new IOException(model + ": " + e.getMessage(), e);
    }
  }

  private MappedByteBuffer map(String path) throws IOException {
    try (AssetFileDescriptor descriptor = assets.openFd(path);
        FileInputStream in = new FileInputStream(descriptor.getFileDescriptor())) {
      return in.getChannel()
          .map(
              FileChannel.MapMode.READ_ONLY,
              descriptor.getStartOffset(),
              descriptor.getDeclaredLength());
    } catch (FileNotFoundException e) {
      throw new FileNotFoundException(
          "asset "
              + path
              + " is missing or compressed ("
              + e.getMessage()
              + "): import the export again with import-export.sh and keep"
              + " noCompress += \"tflite\" in app/build.gradle.kts.");
    }
  }

  /** One interpreter with its input and output buffers; runs are serialized. */
  private static final class LiteRtRunner implements ModelRunner {
    private final InterpreterApi interpreter;
    private final String file;
    private final int inputCount;
    private final DataType inputType;
    private final Tensor.QuantizationParams inputQuantization;
    private final DataType outputType;
    private final Tensor.QuantizationParams outputQuantization;
    private final int outputCount;
    private final ByteBuffer inputBuffer;
    private final ByteBuffer outputBuffer;

    LiteRtRunner(InterpreterApi interpreter, TaskInfo task, ModelInfo model) throws IOException {
      this.interpreter = interpreter;
      this.file = model.file();
      Tensor input = interpreter.getInputTensor(0);
      Tensor output = interpreter.getOutputTensor(0);
      if (input.numElements() != task.input().elementCount()) {
        throw new IOException(
            file
                + " takes an input of shape "
                + Arrays.toString(input.shape())
                + ", but the manifest gives "
                + task.input().height()
                + " x "
                + task.input().width()
                + " x "
                + task.input().channels()
                + ": the manifest does not match the model; export again.");
      }
      if (output.numElements() != task.numClasses()) {
        throw new IOException(
            file
                + " gives "
                + output.numElements()
                + " scores, but task '"
                + task.name()
                + "' has "
                + task.numClasses()
                + " labels: the manifest does not match the model; export again.");
      }
      inputCount = input.numElements();
      outputCount = output.numElements();
      inputType = requireSupported(input.dataType(), "input");
      outputType = requireSupported(output.dataType(), "output");
      inputQuantization = input.quantizationParams();
      outputQuantization = output.quantizationParams();
      inputBuffer = ByteBuffer.allocateDirect(input.numBytes()).order(ByteOrder.nativeOrder());
      outputBuffer = ByteBuffer.allocateDirect(output.numBytes()).order(ByteOrder.nativeOrder());
    }

    private DataType requireSupported(DataType type, String which) throws IOException {
      if (type != DataType.FLOAT32 && type != DataType.INT8 && type != DataType.UINT8) {
        throw new IOException(
            file + " has a " + type + " " + which + "; this app handles float32, int8 and uint8.");
      }
      return type;
    }

    @Override
    public synchronized float[] run(float[] input) {
      if (input.length != inputCount) {
        throw new IllegalArgumentException(
            file + " takes " + inputCount + " input values, got " + input.length + ".");
      }
      inputBuffer.clear();
      for (float value : input) {
        write(inputBuffer, inputType, inputQuantization, value);
      }
      inputBuffer.rewind();
      outputBuffer.clear();
      interpreter.run(inputBuffer, outputBuffer);
      outputBuffer.rewind();
      float[] scores = new float[outputCount];
      for (int i = 0; i < outputCount; i++) {
        scores[i] = read(outputBuffer, outputType, outputQuantization);
      }
      return scores;
    }

    @Override
    public synchronized void close() {
      interpreter.close();
    }

    /** Writes one value, quantized as {@code q = round(x / scale) + zeroPoint} if needed. */
    private static void write(
        ByteBuffer buffer, DataType type, Tensor.QuantizationParams params, float value) {
      if (type == DataType.FLOAT32) {
        buffer.putFloat(value);
        return;
      }
      int q = Math.round(value / params.getScale()) + params.getZeroPoint();
      int low = type == DataType.INT8 ? -128 : 0;
      buffer.put((byte) Math.max(low, Math.min(low + 255, q)));
    }

    /** Reads one value, dequantized as {@code x = scale * (q - zeroPoint)} if needed. */
    private static float read(ByteBuffer buffer, DataType type, Tensor.QuantizationParams params) {
      if (type == DataType.FLOAT32) {
        return buffer.getFloat();
      }
      byte raw = buffer.get();
      int q = type == DataType.INT8 ? raw : raw & 0xFF;
      return params.getScale() * (q - params.getZeroPoint());
    }
  }
}
