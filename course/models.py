"""Course-side models: the larger backbone of the optional experiments, PyTorch's
initialisation."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers


def build_wide_backbone(
    widths: tuple[int, ...] = (32, 64, 128),
    input_shape: tuple[int, int, int] = (32, 32, 3),
    name: str = "wide_backbone",
) -> keras.Model:
    """A larger backbone for the optional experiments (`--widths`): float32 images [B, H, W, C] to
    features [B, F], F = (H // 2**n) * (W // 2**n) * widths[-1] for n = len(widths) blocks.

    Each block is VGG's `Conv2D(c, 3, padding="same") -> BatchNormalization -> ReLU`, twice, then
    `MaxPool2D(2)` (Simonyan & Zisserman, 2015). The workshop's own backbone is lab 1's exercise
    and is not in the library: every row of the main table uses the implementation's.
    """
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for block, width in enumerate(widths, start=1):
        for conv in (1, 2):
            x = layers.Conv2D(width, 3, padding="same", name=f"block{block}_conv{conv}")(x)
            x = layers.BatchNormalization(name=f"block{block}_bn{conv}")(x)
            x = layers.ReLU(name=f"block{block}_relu{conv}")(x)
        x = layers.MaxPool2D(2, name=f"block{block}_pool")(x)
    outputs = layers.Flatten(name="features")(x)
    return keras.Model(inputs, outputs, name=name)


def pytorch_init(layer: keras.layers.Layer) -> None:
    """Redraws a Conv2D or Dense layer's kernel and bias the way PyTorch initialises them.

    PyTorch's `nn.Conv2d` and `nn.Linear` draw weights and biases from U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) (kaiming_uniform with a=sqrt(5)); Keras draws Glorot-uniform kernels and zero
    biases. The workshop's network was PyTorch's; on 5,000 labels PyTorch's initialisation is worth
    several points to the supervised baseline (docs/results.md). Draws from NumPy's global
    generator, which
    `keras.utils.set_random_seed` seeds.
    """
    fan_in = math.prod(layer.kernel.shape[:-1])
    bound = 1.0 / math.sqrt(fan_in)
    layer.kernel.assign(np.random.uniform(-bound, bound, layer.kernel.shape).astype("float32"))
    if layer.bias is not None:
        layer.bias.assign(np.random.uniform(-bound, bound, layer.bias.shape).astype("float32"))
