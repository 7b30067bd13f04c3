"""16-bit images as cameras write them, each beside its 8-bit twin, for the decode tests.

`write_twins(directory)` writes a gray ramp (every 8-bit value, times 257 in
16 bits) as 16-bit PNG and TIFF, a colour ramp as a 16-bit RGB PNG (written
by hand: Pillow cannot write one), and their 8-bit twins.
"""

import os
import struct
import zlib

import numpy as np
from PIL import Image

SIDE = 32  # 1,024 pixels: every 8-bit value four times


def gray_ramp():
    """uint8 [SIDE, SIDE]: 0 to 255 and back, so every value appears."""
    values = np.arange(SIDE * SIDE) % 512
    return np.where(values < 256, values, 511 - values).reshape(SIDE, SIDE).astype(np.uint8)


def colour_ramp():
    """uint8 [SIDE, SIDE, 3]: the gray ramp, its reverse and its transpose."""
    ramp = gray_ramp()
    return np.stack([ramp, 255 - ramp, ramp.T], axis=-1)


def write_rgb_16_bit_png(path, pixels):
    """A PNG of colour type 2 (RGB) and bit depth 16 from uint16 [H, W, 3]."""
    height, width, _ = pixels.shape
    rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in pixels)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    with open(path, "wb") as file:
        file.write(b"\x89PNG\r\n\x1a\n"
                   + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0))
                   + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def write_twins(directory):
    """{name: (16-bit file, its 8-bit twin)} for gray PNG, gray TIFF and RGB PNG."""
    os.makedirs(directory, exist_ok=True)
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    gray, colour = gray_ramp(), colour_ramp()
    wide_gray = Image.fromarray(gray.astype(np.uint16) * 257)
    assert wide_gray.mode == "I;16"
    wide_gray.save(path("gray16.png"))
    wide_gray.save(path("gray16.tif"))
    Image.fromarray(gray).save(path("gray8.png"))
    Image.fromarray(gray).save(path("gray8.tif"))
    write_rgb_16_bit_png(path("rgb16.png"), colour.astype(np.uint16) * 257)
    Image.fromarray(colour).save(path("rgb8.png"))
    return {"gray PNG": (path("gray16.png"), path("gray8.png")),
            "gray TIFF": (path("gray16.tif"), path("gray8.tif")),
            "RGB PNG": (path("rgb16.png"), path("rgb8.png"))}
