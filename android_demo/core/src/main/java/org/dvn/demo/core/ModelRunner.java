package org.dvn.demo.core;

/**
 * One loaded model that can run inferences; on Android it wraps a LiteRT interpreter.
 *
 * <p>{@link ModelSwitcher} may call {@link #run} from several threads at once, so an
 * implementation that is not thread-safe (a LiteRT interpreter is not) serializes its runs.
 * {@link #close} is called once, after every {@link #run} on it has returned.
 */
public interface ModelRunner {
  /**
   * Runs one inference.
   *
   * @param input the input tensor flattened in NHWC order, already normalized
   * @return the output scores, one per class in logit order
   */
  float[] run(float[] input);

  /** Releases the model and its memory. */
  void close();
}
