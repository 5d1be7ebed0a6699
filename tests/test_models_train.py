"""course.models and course.train on tiny inputs."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from course.models import build_wide_backbone
from course.train import TrainResult, compile_classifier, fit_and_evaluate


def test_wide_backbone_options():
    wide = build_wide_backbone(widths=(32, 64, 128), name="wide")
    assert wide.name == "wide" and wide.output_shape == (None, 4 * 4 * 128)
    assert type(wide).__name__ == "Functional" and not isinstance(wide, keras.Sequential)
    patches = build_wide_backbone(widths=(8, 16, 32), input_shape=(8, 8, 3))
    assert patches.output_shape == (None, 32)
    features = wide(np.zeros((2, 32, 32, 3), np.float32))
    assert features.shape == (2, 2048)


def test_the_library_does_not_hold_lab_1s_backbone():
    import course.models

    assert not hasattr(course.models, "build_backbone")


def tiny_dataset(n: int, seed: int) -> tf.data.Dataset:
    rng = np.random.default_rng(seed)
    images = rng.random((n, 32, 32, 3), dtype=np.float32)
    labels = rng.integers(0, 10, n)
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(16)


def test_fit_and_evaluate_on_random_data():
    backbone = build_wide_backbone((8, 16, 32))
    model = keras.Model(backbone.input, keras.layers.Dense(10)(backbone.output))
    assert compile_classifier(model) is model
    result = fit_and_evaluate(model, tiny_dataset(48, 0), tiny_dataset(32, 1), epochs=2, verbose=0)
    assert isinstance(result, TrainResult)
    assert set(result.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 2 and all(np.isfinite(v)) for v in result.history.values())
    assert 0 <= result.final_accuracy <= result.best_accuracy <= 100
    assert result.best_accuracy == pytest.approx(100 * max(result.history["val_accuracy"]))
    assert result.final_accuracy == pytest.approx(100 * result.history["val_accuracy"][-1])
    assert result.best_epoch in (1, 2)
    assert result.seconds > 0


def test_fit_and_evaluate_rejects_zero_epochs():
    backbone = build_wide_backbone((8, 16, 32))
    with pytest.raises(ValueError, match="epochs"):
        fit_and_evaluate(backbone, tiny_dataset(16, 0), tiny_dataset(16, 1), epochs=0)


def test_pytorch_init_draws_within_one_over_sqrt_fan_in():
    from course.models import pytorch_init

    keras.utils.set_random_seed(0)
    model = build_wide_backbone((8, 16, 32))
    conv = model.get_layer("block2_conv1")
    pytorch_init(conv)
    bound = 1 / np.sqrt(3 * 3 * 8)
    kernel, bias = conv.kernel.numpy(), conv.bias.numpy()
    assert np.abs(kernel).max() <= bound and np.abs(kernel).max() > 0.9 * bound
    assert np.abs(bias).max() <= bound and np.any(bias != 0)
