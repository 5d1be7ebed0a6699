"""Figures of the experiments, written as PNG files (matplotlib's Agg backend, no display needed).

Every function takes plain NumPy arrays, lists or dicts and a path, writes one PNG atomically (a
temporary file in the same folder, then `os.replace`) and returns the path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")  # before pyplot: no display on CI machines
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402


def _save(figure, path) -> Path:
    from course.files import atomic_save

    try:
        return atomic_save(
            path, lambda handle: figure.savefig(handle, format="png", dpi=110, bbox_inches="tight")
        )
    finally:
        plt.close(figure)


def _display(image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] or float [0, 1] images to something imshow shows as it is."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return np.clip(image.astype(np.float32), 0.0, 1.0)


def results_bar_chart(rows: Sequence[Mapping], path, title: str = "") -> Path:
    """One bar per row: the best epoch's test accuracy, with the last epoch's as a dot."""
    names = [row["method"] for row in rows]
    best = [row["accuracy"] for row in rows]
    final = [row["final_accuracy"] for row in rows]
    figure, axis = plt.subplots(figsize=(1.2 * len(rows) + 2, 4))
    positions = np.arange(len(rows))
    bars = axis.bar(positions, best, color="#4C72B0", label="best epoch")
    axis.scatter(positions, final, color="#DD8452", zorder=3, label="last epoch")
    for bar, value in zip(bars, best, strict=False):
        axis.annotate(
            f"{value:.1f}",
            (bar.get_x() + bar.get_width() / 2, value),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    axis.set_xticks(positions, names, rotation=20, ha="right")
    axis.set_ylabel("test accuracy %")
    axis.set_ylim(0, max(100.0, max(best, default=0) + 5))
    axis.legend(loc="upper left", fontsize=8)
    axis.set_title(title)
    return _save(figure, path)


def training_curves(
    histories: Mapping[str, Mapping[str, Sequence[float]]], path, title: str = ""
) -> Path:
    """Test accuracy (%) and training loss per epoch, one line per labelled training phase.

    histories: label -> a `TrainResult.history` ("loss", "val_accuracy", ...).
    """
    figure, (accuracy_axis, loss_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for label, history in histories.items():
        epochs = np.arange(1, len(history["loss"]) + 1)
        if "val_accuracy" in history:
            accuracy_axis.plot(
                epochs, 100 * np.asarray(history["val_accuracy"]), marker=".", label=label
            )
        loss_axis.plot(epochs, history["loss"], marker=".", label=label)
    accuracy_axis.set(xlabel="epoch", ylabel="test accuracy %", title="test accuracy")
    loss_axis.set(xlabel="epoch", ylabel="training loss", title="training loss")
    for axis in (accuracy_axis, loss_axis):
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title)
    return _save(figure, path)


def loss_curve(
    losses: Sequence[float],
    path,
    title: str = "",
    ylabel: str = "loss",
    xlabel: str = "epoch",
    extra: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """A loss per epoch (or step); `extra` adds curves on a second axis (e.g. pretext accuracy)."""
    figure, axis = plt.subplots(figsize=(6, 4))
    steps = np.arange(1, len(losses) + 1)
    axis.plot(steps, losses, marker=".", color="#4C72B0")
    axis.set(xlabel=xlabel, ylabel=ylabel, title=title)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.grid(alpha=0.3)
    if extra:
        other = axis.twinx()
        for label, values in extra.items():
            other.plot(
                np.arange(1, len(values) + 1), values, marker=".", color="#DD8452", label=label
            )
        other.set_ylabel(", ".join(extra))
        other.legend(loc="center right", fontsize=8)
    return _save(figure, path)


def rotation_examples(images: np.ndarray, path, labels: Sequence[str] | None = None) -> Path:
    """Each image (a row) in its four rotations k = 0..3 (`np.rot90(image, k)`), labelled."""
    images = np.asarray(images)
    figure, axes = plt.subplots(
        len(images), 4, figsize=(6, 1.6 * len(images) + 0.4), squeeze=False
    )
    for row, image in enumerate(images):
        for k in range(4):
            axis = axes[row, k]
            axis.imshow(_display(np.rot90(image, k)), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(f"k = {k} ({90 * k} deg)", fontsize=9)
        if labels is not None:
            axes[row, 0].set_ylabel(labels[row], fontsize=9)
    return _save(figure, path)


def augmentation_grid(
    images: np.ndarray,
    view1: np.ndarray,
    view2: np.ndarray,
    path,
    labels: Sequence[str] | None = None,
) -> Path:
    """One row per image: the image, then its two augmented views."""
    figure, axes = plt.subplots(
        len(images), 3, figsize=(4.5, 1.5 * len(images) + 0.4), squeeze=False
    )
    for row in range(len(images)):
        for column, (name, batch) in enumerate(
            (("image", images), ("view 1", view1), ("view 2", view2))
        ):
            axis = axes[row, column]
            axis.imshow(_display(batch[row]), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(name, fontsize=9)
        if labels is not None:
            axes[row, 0].set_ylabel(labels[row], fontsize=8)
    return _save(figure, path)


def pca_2d(features: np.ndarray) -> np.ndarray:
    """The first two principal components of `features` [N, D] (NumPy only): [N, 2]."""
    features = np.asarray(features, np.float64).reshape(len(features), -1)
    centred = features - features.mean(axis=0)
    # The right singular vectors are the principal directions; full_matrices=False keeps it cheap.
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    components = centred @ directions[:2].T
    if components.shape[1] < 2:  # a single feature: pad so the plot still has two axes
        components = np.pad(components, ((0, 0), (0, 2 - components.shape[1])))
    return components


def feature_pca(
    features: np.ndarray, labels: np.ndarray, path, class_names: Sequence[str], title: str = ""
) -> Path:
    """A scatter plot of the first two principal components of `features`, coloured by class."""
    points = pca_2d(features)
    labels = np.asarray(labels)
    figure, axis = plt.subplots(figsize=(6, 5))
    colours = plt.get_cmap("tab10")
    for label, name in enumerate(class_names):
        chosen = labels == label
        if chosen.any():
            axis.scatter(
                points[chosen, 0],
                points[chosen, 1],
                s=4,
                alpha=0.6,
                color=colours(label % 10),
                label=name,
            )
    axis.set(xlabel="principal component 1", ylabel="principal component 2", title=title)
    axis.legend(fontsize=7, markerscale=3, loc="best")
    return _save(figure, path)
