"""The Tiny-ImageNet builder on a small zip in the official layout."""

import collections

import numpy as np
import pytest
import tensorflow_datasets as tfds

import tiny_imagenet_zip
from dvn_tf.data import tiny_imagenet
from dvn_tf.data.base import DataNotPreparedError
from dvn_tf.data.tfds_tasks import load_tfds_task

WNIDS = ["n03", "n01", "n02"]  # wnids.txt order, deliberately not sorted
WORDS = {"n01": "goldfish, Carassius auratus", "n02": "tabby, tabby cat",
         "n03": "lighthouse", "n99": "not in this dataset"}
TRAIN_PER_CLASS = 4
# (file, wnid) in val_annotations.txt order: not grouped by class.
VALIDATION = [("val_0.JPEG", "n02"), ("val_1.JPEG", "n03"),
              ("val_2.JPEG", "n02"), ("val_3.JPEG", "n01"),
              ("val_4.JPEG", "n02")]


def _gray_level(wnid):
    """Every image of a class is one flat gray: the label is in the pixels."""
    return 40 + 80 * sorted(WNIDS).index(wnid)


def _jpeg(wnid, mode="RGB"):
    return tiny_imagenet_zip.jpeg(_gray_level(wnid), mode)


def _data_dir_with_zip(path):
    train = {wnid: [_jpeg(wnid, "L" if (wnid, i) == ("n01", 0) else "RGB")  # as in the real zip
                    for i in range(TRAIN_PER_CLASS)] for wnid in WNIDS}
    return tiny_imagenet_zip.data_dir_with_zip(
        path, wnids=WNIDS, words=WORDS, train=train,
        validation=[(name, wnid, _jpeg(wnid)) for name, wnid in VALIDATION])


@pytest.fixture(scope="module")
def prepared_builder(tmp_path_factory):
    data_dir = _data_dir_with_zip(tmp_path_factory.mktemp("tfds"))
    builder = tiny_imagenet.TinyImagenet(data_dir=str(data_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(try_download_gcs=False))
    return builder


def _check_pixels_match_labels(examples, names):
    for image, label in examples:
        assert image.shape == (64, 64, 3)
        np.testing.assert_allclose(
            image, _gray_level(names[int(label)]), atol=3)


def test_name_is_registered_to_this_builder():
    assert tfds.builder_cls("tiny_imagenet") is tiny_imagenet.TinyImagenet


def test_prepares_train_and_validation_from_the_zip(prepared_builder):
    info = prepared_builder.info
    assert set(info.splits) == {"train", "validation"}
    assert info.splits["train"].num_examples == len(WNIDS) * TRAIN_PER_CLASS
    assert info.splits["validation"].num_examples == len(VALIDATION)
    assert info.features["label"].names == WNIDS
    assert info.metadata["words"] == {w: WORDS[w] for w in WNIDS}

    train = list(tfds.as_numpy(
        prepared_builder.as_dataset(split="train", as_supervised=True)))
    assert collections.Counter(WNIDS[label] for _, label in train) == {
        wnid: TRAIN_PER_CLASS for wnid in WNIDS}
    _check_pixels_match_labels(train, WNIDS)

    validation = list(tfds.as_numpy(
        prepared_builder.as_dataset(split="validation", as_supervised=True)))
    assert collections.Counter(WNIDS[label] for _, label in validation) == (
        collections.Counter(wnid for _, wnid in VALIDATION))
    _check_pixels_match_labels(validation, WNIDS)


def test_load_task_prepares_from_the_manual_dir_and_keeps_classes(tmp_path):
    data_dir = _data_dir_with_zip(tmp_path)
    classes = [2, 0]  # n02, n03
    task = load_tfds_task(
        {"name": "tiny_half", "dataset": "tiny_imagenet", "classes": classes,
         "augment": "none"}, data_dir=str(data_dir))
    kept = [WNIDS[c] for c in classes]
    assert task.labels == [WORDS[w] for w in kept]
    assert task.num_classes == 2 and task.input_shape == (64, 64, 3)
    assert task.train_size == 2 * TRAIN_PER_CLASS
    assert task.test_size == sum(wnid in kept for _, wnid in VALIDATION)

    for split, size in ((task.train, task.train_size),
                        (task.test, task.test_size)):
        examples = [((image.numpy() * task.std + task.mean) * 255, label)
                    for image, label in split]
        assert len(examples) == size
        _check_pixels_match_labels(examples, kept)


def test_without_the_zip_says_where_to_put_it(tmp_path):
    with pytest.raises(DataNotPreparedError) as error:
        load_tfds_task({"name": "tiny", "dataset": "tiny_imagenet"},
                       data_dir=str(tmp_path))
    message = str(error.value)
    assert "\n" not in message and message.startswith("tiny_imagenet ")
    assert f"{tmp_path}/downloads/manual/" in message
    assert tiny_imagenet.ZIP_NAME in message


def test_load_task_with_every_class(prepared_builder):
    task = load_tfds_task({"name": "tiny", "dataset": "tiny_imagenet"},
                          data_dir=str(prepared_builder.data_dir_root))
    assert task.labels == [WORDS[w] for w in WNIDS]
    assert task.train_size == len(WNIDS) * TRAIN_PER_CLASS
    assert task.test_size == len(VALIDATION)
    assert len(list(task.test)) == task.test_size
