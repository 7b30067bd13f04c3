"""Writing files so that a kill never leaves half of one: a temporary file, then a rename."""

import os
import tempfile


def write_atomically(path, write, mode="w"):
    """Call write(file) on a temporary file beside path, then rename it to path."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    try:
        with os.fdopen(handle, mode) as file:
            write(file)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_text_atomically(path, text):
    """Write text to path atomically."""
    write_atomically(path, lambda file: file.write(text))
