package org.dvn.demo.core;

import java.io.IOException;

/**
 * Serves inferences from one model at a time and switches models without cutting any off.
 *
 * <p>A switch loads the new model first and only then retires the old one (make before break),
 * so when the budget shrinks the app keeps serving while the smaller model loads. Each inference
 * holds the model it started on until it returns: a retired model is closed when its last
 * inference in flight returns, and never serves a new one. Every switch is reported to the
 * {@link Listener} with its cause and duration.
 *
 * <p>Thread-safe: {@link #run} may be called from any threads while {@link #switchTo} runs on
 * another; switches are serialized.
 */
public final class ModelSwitcher implements AutoCloseable {

  /** Receives every completed switch, on the thread that called {@link #switchTo}. */
  public interface Listener {
    /** Called after the new model has taken over. */
    void onSwitch(SwitchEvent event);
  }

  /** A loaded model with the count of inferences running on it. Guarded by {@code state}. */
  private static final class Lease {
    final ModelInfo model;
    final ModelRunner runner;
    int inFlight;
    boolean retired;

    Lease(ModelInfo model, ModelRunner runner) {
      this.model = model;
      this.runner = runner;
    }

    /** True once retired and idle: the caller that sees this first must close the runner. */
    boolean mustClose() {
      return retired && inFlight == 0;
    }
  }

  private final ModelLoader loader;
  private final Listener listener;
  private final Object switching = new Object();
  private final Object state = new Object();
  private Lease current;
  private boolean closed;

  /** Creates a switcher with no model loaded; call {@link #switchTo} before {@link #run}. */
  public ModelSwitcher(ModelLoader loader, Listener listener) {
    this.loader = loader;
    this.listener = listener;
  }

  /**
   * Runs one inference on the current model. A switch during the call does not affect it.
   *
   * @throws IllegalStateException if no model is loaded yet or the switcher is closed
   */
  public Inference run(float[] input) {
    Lease lease;
    synchronized (state) {
      if (current == null) {
        throw new IllegalStateException(
            closed ? "the model switcher is closed" : "no model loaded yet: call switchTo first");
      }
      lease = current;
      lease.inFlight++;
    }
    try {
      long start = System.nanoTime();
      float[] scores = lease.runner.run(input);
      return new Inference(lease.model, scores, System.nanoTime() - start);
    } finally {
      boolean closeNow;
      synchronized (state) {
        lease.inFlight--;
        closeNow = lease.mustClose();
      }
      if (closeNow) {
        lease.runner.close();
      }
    }
  }

  /**
   * Makes {@code target} the model that serves from now on: loads it, swaps it in, and retires
   * the previous model (closed at once if idle, else when its last inference returns).
   *
   * @param reason why, for the listener: e.g. "downgrade", "upgrade", "initial", "task"
   * @return the switch made, or null if {@code target} is already being served
   * @throws IOException if the target cannot be loaded; the current model then keeps serving
   * @throws IllegalStateException if the switcher is closed
   */
  public SwitchEvent switchTo(ModelInfo target, String reason) throws IOException {
    synchronized (switching) {
      ModelInfo from;
      synchronized (state) {
        requireOpen();
        from = current == null ? null : current.model;
      }
      if (from != null && from.task().equals(target.task()) && from.level() == target.level()) {
        return null;
      }
      long start = System.nanoTime();
      Lease next = new Lease(target, loader.load(target));
      Lease previous;
      boolean closePrevious;
      int leftOnPrevious;
      synchronized (state) {
        previous = current;
        current = next;
        closePrevious = previous != null && retire(previous);
        leftOnPrevious = previous == null ? 0 : previous.inFlight;
      }
      SwitchEvent event =
          new SwitchEvent(from, target, reason, System.nanoTime() - start, leftOnPrevious);
      if (closePrevious) {
        previous.runner.close();
      }
      listener.onSwitch(event);
      return event;
    }
  }

  /** The model serving now, or null before the first switch and after {@link #close}. */
  public ModelInfo currentModel() {
    synchronized (state) {
      return current == null ? null : current.model;
    }
  }

  /**
   * Stops serving: later {@link #run} and {@link #switchTo} calls fail. The current model is
   * closed at once if idle, else when its last inference returns.
   */
  @Override
  public void close() {
    synchronized (switching) {
      Lease last;
      boolean closeNow;
      synchronized (state) {
        if (closed) {
          return;
        }
        closed = true;
        last = current;
        current = null;
        closeNow = last != null && retire(last);
      }
      if (closeNow) {
        last.runner.close();
      }
    }
  }

  /** Marks a lease retired; returns true if it is idle, so the caller closes it now. */
  private static boolean retire(Lease lease) {
    lease.retired = true;
    return lease.mustClose();
  }

  private void requireOpen() {
    if (closed) {
      throw new IllegalStateException("the model switcher is closed");
    }
  }
}
