"""Turns an image (file, Pillow image or uint8 array) into a model input tensor.

`decode` is the one image decode that training (dvn_tf/data/folder_cache.py)
and the runtime share, so a model serves on the pixels it trained on.
"""

import os

import numpy as np
from PIL import Image, ImageOps


# Pillow modes of 16-bit pixels ("I": 32-bit integers, as some TIFFs and older Pillows give them).
WIDE_INTEGER_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
SIXTEEN_TO_EIGHT_BITS = 257  # 65535 / 255: 16-bit white is 8-bit white


class ImageError(ValueError):
    """An image could not be read or has an unusable shape; `reason` says why, without the path."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason or message


def open_image(source, draft_size=None):
    """Decodes `source` (path, Pillow image or uint8 HxW[xC] array) into an 8-bit Pillow image.

    A file is turned upright by its EXIF orientation; 16-bit pixels are scaled
    to 8 bits (`to_8_bit`). With `draft_size` (width, height), a JPEG file is
    decoded at the smallest DCT scale that keeps twice that size.
    """
    if isinstance(source, Image.Image):
        return to_8_bit(source)
    if isinstance(source, np.ndarray):
        return _image_from_array(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            with Image.open(source) as image:
                if draft_size and image.format == "JPEG":
                    image.draft(None, (2 * draft_size[0], 2 * draft_size[1]))
                image.load()
                return to_8_bit(ImageOps.exif_transpose(image))
        except Exception as e:  # Pillow raises OSError, SyntaxError, ValueError... on bad files
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ImageError(f"cannot read image {os.fspath(source)!r}: {reason}",
                             reason) from None
    raise ImageError(
        f"expected an image path, a Pillow image or a uint8 array, got {type(source).__name__}")


def to_8_bit(image):
    """`image` with 16-bit pixels scaled to 8 bits (value / 257, rounded), else unchanged.

    Pillow's `convert` clips 16-bit gray at 255 instead, which turns a camera's
    picture into a silhouette. (Pillow reads 16-bit RGB PNGs as 8-bit RGB itself.)
    """
    if image.mode not in WIDE_INTEGER_MODES:
        return image
    values = np.asarray(image, dtype=np.float64)
    return Image.fromarray(
        np.clip(np.round(values / SIXTEEN_TO_EIGHT_BITS), 0, 255).astype(np.uint8), "L")


def _image_from_array(array):
    if array.dtype != np.uint8:
        raise ImageError(f"image arrays must be uint8 (0-255), got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ImageError(
            f"image arrays must be HxW, HxWx1, HxWx3 or HxWx4, got shape {array.shape}")
    return Image.fromarray(array)


def decode(source, mode, size):
    """uint8 pixels of `source` as `mode` ("L": [H, W], "RGB": [H, W, 3]) at size (W, H).

    The decode that training and the runtime share: `open_image` (upright,
    8 bits), converted to `mode` (alpha dropped), resized with Pillow's
    bilinear filter, squeezing the aspect ratio. Raises ImageError.
    """
    image = open_image(source, draft_size=size).convert(mode)
    if image.size != tuple(size):
        image = image.resize(tuple(size), Image.Resampling.BILINEAR)
    return np.asarray(image)


def preprocess(source, spec):
    """Image -> array [1, H, W, C] of ``spec.dtype``: resized, scaled to [0, 1], normalized.

    `spec` is a manifest InputSpec: grayscale when C is 1, RGB when C is 3;
    ``(pixel / 255 - mean) / std`` per channel.
    """
    pixels = decode(source, "L" if spec.channels == 1 else "RGB",
                    (spec.width, spec.height)).astype(np.float32) / 255.0
    if spec.channels == 1:
        pixels = pixels[:, :, np.newaxis]
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    return ((pixels - mean) / std)[np.newaxis].astype(spec.dtype)


def to_input_tensor(batch, input_details):
    """Casts a preprocessed batch to the interpreter's input dtype.

    Full-integer models (int8/uint8 input) get ``round(x / scale) + zero_point``
    with the input tensor's own quantization parameters.
    """
    dtype = np.dtype(input_details["dtype"])
    if dtype in (np.int8, np.uint8):
        scale, zero_point = input_details["quantization"]
        info = np.iinfo(dtype)
        quantized = np.round(batch.astype(np.float32) / scale) + zero_point
        return np.clip(quantized, info.min, info.max).astype(dtype)
    return batch.astype(dtype)

