"""Float32 .tflite files of every (task, level), run through LiteRT, against the DVN itself."""

import numpy as np
import pytest

from export import convert, verify
from test_export_helpers import random_images, small_dvn


@pytest.mark.parametrize("backbone", ["resnet-8", "wrn-10-2"])
@pytest.mark.slow
def test_float32_tflite_matches_the_dvn_at_every_task_and_level(backbone):
    dvn = small_dvn(backbone, "cyclic")
    images = random_images(dvn.input_shapes[0], count=32)
    for task in range(dvn.plan.num_tasks):
        for level in dvn.levels:
            content = convert.to_tflite(dvn.to_plain(task, level), "none")
            reference = np.asarray(dvn(images, task=task, level=level))
            logits = verify.tflite_logits(content, images)
            disagreement, relative = verify.check_parity(
                f"t{task} level {level}", reference, logits)
            assert disagreement == 0.0 and relative < 1e-5


def test_parity_check_rejects_another_levels_model():
    dvn = small_dvn("resnet-8", "cyclic")
    images = random_images(dvn.input_shapes[0], count=32)
    wrong = verify.tflite_logits(convert.to_tflite(dvn.to_plain(1, 1), "none"), images)
    with pytest.raises(verify.ParityError, match="t1 level 2: "):
        verify.check_parity("t1 level 2", np.asarray(dvn(images, task=1, level=2)), wrong)
    nudged = np.asarray(dvn(images, task=1, level=1)) * (1 + 1e-3)
    with pytest.raises(verify.ParityError, match="logits differ"):
        verify.check_parity("t1 level 1", np.asarray(dvn(images, task=1, level=1)), nudged)


@pytest.mark.slow
def test_level_one_file_holds_only_its_share_of_the_weights():
    """bytes(level 1) <= 1.1 x params(1) / params(top) x bytes(top) + 16 KiB."""
    dvn = small_dvn("resnet-20", "cyclic", num_tasks=2, units=4, base_width=16,
                    input_shape=(32, 32, 3))
    sizes, params = {}, {}
    for level in (1, dvn.plan.units):
        plain = dvn.to_plain(1, level)
        sizes[level] = len(convert.to_tflite(plain, "none"))
        params[level] = plain.count_params()
    top = dvn.plan.units
    bound = 1.1 * params[1] / params[top] * sizes[top] + 16 * 1024
    assert sizes[1] <= bound, (sizes, params)
    assert sizes[top] >= 3 * params[top]  # float32 weights, BN folded into the convs
