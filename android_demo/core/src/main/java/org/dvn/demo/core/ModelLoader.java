package org.dvn.demo.core;

import java.io.IOException;

/** Creates a {@link ModelRunner} for one model of the manifest. */
public interface ModelLoader {
  /**
   * Loads {@code model} so that it is ready to run.
   *
   * @throws IOException if the model file cannot be read or the interpreter cannot be created
   */
  ModelRunner load(ModelInfo model) throws IOException;
}
