"""Turns an image (file, Pillow image or uint8 array) into a model input tensor."""

import os

import numpy as np
from PIL import Image, ImageOps


class ImageError(ValueError):
    """An image could not be read or has an unusable shape."""


def open_image(source):
    """Decodes `source` (path, Pillow image or uint8 HxW[xC] array) into a Pillow image."""
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, np.ndarray):
        return _image_from_array(source)
    if isinstance(source, (str, os.PathLike)):
        try:
            with Image.open(source) as image:
                image.load()
                return ImageOps.exif_transpose(image)
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise ImageError(f"cannot read image {os.fspath(source)!r}: {e}") from None
    raise ImageError(
        f"expected an image path, a Pillow image or a uint8 array, got {type(source).__name__}")


def _image_from_array(array):
    if array.dtype != np.uint8:
        raise ImageError(f"image arrays must be uint8 (0-255), got {array.dtype}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise ImageError(
            f"image arrays must be HxW, HxWx1, HxWx3 or HxWx4, got shape {array.shape}")
    return Image.fromarray(array)


def preprocess(source, spec):
    """Image -> array [1, H, W, C] of ``spec.dtype``: resized, scaled to [0, 1], normalized.

    `spec` is a manifest InputSpec: grayscale when C is 1, RGB when C is 3;
    ``(pixel / 255 - mean) / std`` per channel.
    """
    image = open_image(source).convert("L" if spec.channels == 1 else "RGB")
    if image.size != (spec.width, spec.height):
        image = image.resize((spec.width, spec.height), Image.Resampling.BILINEAR)
    pixels = np.asarray(image, dtype=np.float32) / 255.0
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

