"""Import TensorFlow without the C++ start-up chatter (CUDA probes, oneDNN notes) on stderr."""

import os
import sys


def import_tensorflow_quietly():
    """Import tensorflow and initialize its devices with stderr silenced; return the module.

    Set DVN_TF_VERBOSE=1 to see TensorFlow's start-up logs again.
    """
    if "tensorflow" in sys.modules or os.environ.get("DVN_TF_VERBOSE"):
        import tensorflow
        return tensorflow
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        import tensorflow
        if "TF_CONFIG" not in os.environ:  # MultiWorkerMirroredStrategy must set up devices first
            tensorflow.config.list_logical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    return tensorflow
