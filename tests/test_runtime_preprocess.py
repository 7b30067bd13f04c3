"""Image preprocessing and input quantization, checked against hand-computed values."""

import numpy as np
import pytest
from PIL import Image

from dvn_runtime.manifest import InputSpec, load_manifest
from dvn_runtime.model import load_model
from dvn_runtime.preprocess import ImageError, preprocess, to_input_tensor
from runtime_helpers import random_image, shared_export
from sixteen_bit_images import write_twins

RGB_SPEC = InputSpec(shape=(1, 6, 8, 3), dtype="float32", mean=(0.5, 0.4, 0.3), std=(0.25, 0.2, 0.1))
GRAY_SPEC = InputSpec(shape=(1, 5, 7, 1), dtype="float32", mean=(0.2,), std=(0.5,))


def test_png_rgba_of_another_size_becomes_normalized_rgb(tmp_path):
    path = tmp_path / "solid.png"
    Image.new("RGBA", (40, 30), (200, 100, 50, 128)).save(path)
    x = preprocess(path, RGB_SPEC)
    assert x.shape == (1, 6, 8, 3) and x.dtype == np.float32
    expected = (np.array([200, 100, 50]) / 255 - np.array([0.5, 0.4, 0.3])) / np.array([0.25, 0.2, 0.1])
    np.testing.assert_allclose(x[0, 3, 4], expected, rtol=1e-5)
    np.testing.assert_allclose(x, np.broadcast_to(expected, x.shape), rtol=1e-5)


def test_resize_keeps_height_and_width_apart(tmp_path):
    pixels = np.zeros((60, 80, 3), np.uint8)
    pixels[:, 40:] = 255  # right half white
    path = tmp_path / "halves.png"
    Image.fromarray(pixels).save(path)
    x = preprocess(path, InputSpec((1, 6, 8, 3), "float32", (0.0,), (1.0,)))
    np.testing.assert_allclose(x[0, :, :3], 0.0, atol=1e-6)
    np.testing.assert_allclose(x[0, :, 5:], 1.0, atol=1e-6)


def test_jpeg_rgb_to_grayscale(tmp_path):
    path = tmp_path / "solid.jpg"
    Image.new("RGB", (33, 21), (30, 160, 90)).save(path, quality=95)
    x = preprocess(path, GRAY_SPEC)
    assert x.shape == (1, 5, 7, 1)
    luma = (30 * 299 + 160 * 587 + 90 * 114) / 1000 / 255  # ITU-R 601-2, as Pillow's "L"
    np.testing.assert_allclose(x, (luma - 0.2) / 0.5, atol=3 / 255 / 0.5)


def test_grayscale_jpeg_to_rgb_repeats_the_channel(tmp_path):
    path = tmp_path / "gray.jpg"
    Image.new("L", (9, 9), 180).save(path)
    x = preprocess(path, InputSpec((1, 4, 4, 3), "float32", (0.0,), (1.0,)))
    np.testing.assert_allclose(x, 180 / 255, atol=2 / 255)


def test_palette_png_and_float16_dtype(tmp_path):
    path = tmp_path / "palette.png"
    Image.new("RGB", (10, 10), (0, 255, 0)).convert("P").save(path)
    x = preprocess(path, InputSpec((1, 4, 4, 3), "float16", (0.0,), (1.0,)))
    assert x.dtype == np.float16
    np.testing.assert_allclose(x[0, 0, 0], [0, 1, 0], atol=1e-3)


def test_array_pillow_image_and_file_agree(tmp_path):
    pixels = random_image(3, size=(20, 14))
    path = tmp_path / "random.png"
    Image.fromarray(pixels).save(path)
    from_file = preprocess(path, RGB_SPEC)
    np.testing.assert_array_equal(preprocess(pixels, RGB_SPEC), from_file)
    np.testing.assert_array_equal(preprocess(Image.fromarray(pixels), RGB_SPEC), from_file)


@pytest.mark.parametrize("content", [b"not an image at all", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_undecodable_file_is_a_one_line_error(tmp_path, content):
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(ImageError, match="cannot read image .*broken.png") as error:
        preprocess(path, RGB_SPEC)
    assert "\n" not in str(error.value)


def test_truncated_jpeg_is_refused(tmp_path):
    path = tmp_path / "cut.jpg"
    Image.fromarray(random_image(4, size=(64, 64))).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ImageError, match="cannot read image"):
        preprocess(path, RGB_SPEC)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="No such file"):
        preprocess(tmp_path / "absent.png", RGB_SPEC)


@pytest.mark.parametrize("array, message", [
    (np.zeros((4, 4, 3), np.float32), "must be uint8"),
    (np.zeros((4, 4, 2), np.uint8), "got shape"),
    (np.zeros((1, 4, 4, 3), np.uint8), "got shape"),
])
def test_unusable_arrays(array, message):
    with pytest.raises(ImageError, match=message):
        preprocess(array, RGB_SPEC)


def test_int8_quantization_uses_scale_and_zero_point():
    details = {"dtype": np.int8, "quantization": (0.5, -3)}
    batch = np.array([[-100.0, -1.0, 0.0, 0.76, 1.0, 100.0]], np.float32)
    np.testing.assert_array_equal(to_input_tensor(batch, details), [[-128, -5, -3, -1, -1, 127]])
    details = {"dtype": np.uint8, "quantization": (0.1, 10)}
    np.testing.assert_array_equal(to_input_tensor(batch, details), [[0, 0, 10, 18, 20, 255]])


def test_full_integer_model_gets_quantized_input():
    manifest = load_manifest(shared_export())
    model = load_model(manifest, manifest.models_for("digits")[2])
    details = model.input_details
    assert details["dtype"] == np.int8 and details["quantization"][0] > 0
    outputs = [model.predict(preprocess(random_image(seed, (10, 10)), manifest.task("digits").input))
               for seed in range(3)]
    for probabilities in outputs:
        assert probabilities.shape == (10,) and abs(probabilities.sum() - 1) < 1e-5
    assert not np.allclose(outputs[0], outputs[1])  # the input reaches the int8 model


@pytest.mark.parametrize("name", ["gray PNG", "gray TIFF", "RGB PNG"])
@pytest.mark.parametrize("spec", [GRAY_SPEC, RGB_SPEC], ids=["gray", "rgb"])
def test_16_bit_image_gives_its_8_bit_twins_input(tmp_path, name, spec):
    wide, narrow = write_twins(tmp_path)[name]
    expected = preprocess(narrow, spec)
    std = np.min(spec.std)
    np.testing.assert_allclose(preprocess(wide, spec), expected, atol=1.001 / 255 / std)
    white = (1 - np.asarray(spec.mean)) / np.asarray(spec.std)  # clipping made most of it white
    assert np.mean(np.isclose(preprocess(wide, spec), white, atol=1e-4)) < 0.2
