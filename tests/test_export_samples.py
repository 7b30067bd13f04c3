"""Sample PNGs for tasks whose class names are not file names (Fashion-MNIST's "T-shirt/top")."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from dvn_tf.data.base import TaskData
from export.samples import file_safe, write_samples


@pytest.mark.parametrize("label, expected", [("T-shirt/top", "T-shirt-top"), ("Ankle boot", "Ankle-boot"),
                                             ("7", "7"), ("/", "class")])
def test_class_names_become_file_safe(label, expected):
    assert file_safe(label) == expected


def test_samples_of_a_class_with_a_slash_are_written_and_indexed(tmp_path):
    images = np.zeros((2, 4, 4, 1), np.float32)
    empty = tf.data.Dataset.from_tensor_slices((images, np.zeros(2, np.int32)))
    task = TaskData(name="fashion", num_classes=2, labels=["T-shirt/top", "Trouser"],
                    input_shape=(4, 4, 1), mean=[0.5], std=[0.25], pixel_scale=255,
                    train=empty, test=empty, train_size=2, test_size=2)
    write_samples([task], [(images, np.array([0, 1]))], str(tmp_path))
    index = json.loads((tmp_path / "index.json").read_text())
    assert index == {"fashion": ["00_T-shirt-top.png", "01_Trouser.png"]}
    pixels = np.asarray(Image.open(tmp_path / "fashion" / "00_T-shirt-top.png"))
    assert pixels.shape == (4, 4) and (pixels == 128).all()  # 0 * 0.25 + 0.5 -> 127.5 -> 128
