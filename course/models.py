"""Backbones: the CNNs that the labs pretrain and then fine-tune or probe."""
from __future__ import annotations

import math

import keras
import numpy as np
from keras import layers


def build_backbone(input_shape: tuple[int, int, int] = (32, 32, 3),
                   widths: tuple[int, ...] = (8, 16, 32), name: str = "backbone") -> keras.Model:
    """The workshop's CNN, a functional model: float32 images [B, H, W, C] to features [B, F].

    One block per width: `Conv2D(c, 3, padding="same") -> ReLU -> MaxPool2D(2) ->
    BatchNormalization`, then `Flatten`, so F = (H // 2**n) * (W // 2**n) * widths[-1] for
    n = len(widths) blocks. The defaults are the workshop's backbone: 6,256 parameters and 512
    features for 32x32x3 images. Wider widths, e.g. (32, 64, 128), give a stronger backbone for
    the optional experiments.
    """
    inputs = keras.Input(shape=input_shape, name="images")
    x = inputs
    for block, width in enumerate(widths, start=1):
        x = layers.Conv2D(width, 3, padding="same", name=f"block{block}_conv")(x)
        x = layers.ReLU(name=f"block{block}_relu")(x)
        x = layers.MaxPool2D(2, name=f"block{block}_pool")(x)
        # The workshop's order: normalization after pooling, on 4x fewer activations.
        x = layers.BatchNormalization(name=f"block{block}_bn")(x)
    outputs = layers.Flatten(name="features")(x)
    return keras.Model(inputs, outputs, name=name)


def pytorch_init(layer: keras.layers.Layer) -> None:
    """Redraws a Conv2D or Dense layer's kernel and bias the way PyTorch initialises them.

    PyTorch's `nn.Conv2d` and `nn.Linear` draw weights and biases from U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) (kaiming_uniform with a=sqrt(5)); Keras draws Glorot-uniform kernels and zero
    biases. The workshop's network was PyTorch's; on 5,000 labels PyTorch's initialisation is worth
    several points to the supervised baseline (docs/results.md). Draws from NumPy's global generator, which
    `keras.utils.set_random_seed` seeds.
    """
    fan_in = math.prod(layer.kernel.shape[:-1])
    bound = 1.0 / math.sqrt(fan_in)
    layer.kernel.assign(np.random.uniform(-bound, bound, layer.kernel.shape).astype("float32"))
    if layer.bias is not None:
        layer.bias.assign(np.random.uniform(-bound, bound, layer.bias.shape).astype("float32"))
