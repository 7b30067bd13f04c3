"""Reading JSON, and writing files so that a kill never leaves half of one (temporary file, rename)."""

import json
import os
import tempfile


def read_json(path):
    """The JSON document at path."""
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def write_atomically(path, write, mode="w"):
    """Call write(file) on a temporary file beside path, then rename it to path."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(handle, mode) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_text_atomically(path, text):
    """Write text to path atomically."""
    write_atomically(path, lambda file: file.write(text))
