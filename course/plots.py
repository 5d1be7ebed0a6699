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

    _translate(figure)
    try:
        return atomic_save(
            path, lambda handle: figure.savefig(handle, format="png", dpi=110, bbox_inches="tight")
        )
    finally:
        plt.close(figure)


def _translate(figure) -> None:
    """The figure's words (titles, axis labels, legends) in the language chosen
    (`course.i18n`): the code that draws a figure writes English, as the experiment's code is."""
    from course.i18n import DEFAULT, experiment_text, language

    if language() == DEFAULT:
        return
    texts = [figure._suptitle] if figure._suptitle is not None else []
    for axis in figure.axes:
        texts += [axis.title, axis._left_title, axis._right_title]
        texts += [axis.xaxis.label, axis.yaxis.label]
        legend = axis.get_legend()
        texts += legend.get_texts() if legend is not None else []
    for text in texts:
        if text.get_text():
            text.set_text(experiment_text(text.get_text()))


def _display(image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] or float [0, 1] images to something imshow shows as it is."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    return np.clip(image.astype(np.float32), 0.0, 1.0)


KIND_COLOURS = {
    "baseline": "#8C8C8C",  # random guessing and the supervised rows
    "fine-tuned": "#4C72B0",  # pretrained, then the whole network trained on the labels
    "probe": "#55A868",  # pretrained, frozen: a linear classifier on its features
}


def row_kind(method: str) -> str:
    """ "baseline", "fine-tuned" or "probe": what a row of the table measures."""
    if method in ("random", "random-linear", "supervised", "supervised-all"):
        return "baseline"
    return "probe" if method.endswith("-linear") else "fine-tuned"


def results_bar_chart(
    rows: Sequence[Mapping], path, title: str = "", workshop: Mapping[str, float] | None = None
) -> Path:
    """One bar per row: the best epoch's test accuracy, coloured by the kind of row, with the
    last epoch's as a dot and the workshop's published value (where it has one) as a black
    mark. The axis is zoomed to the values, so that differences of a few points show."""
    names = [row["method"] for row in rows]
    best = [row["accuracy"] for row in rows]
    final = [row["final_accuracy"] for row in rows]
    workshop = {name: value for name, value in (workshop or {}).items() if name in names}
    figure, axis = plt.subplots(figsize=(1.1 * len(rows) + 2.5, 4.2))
    positions = np.arange(len(rows))
    colours = [KIND_COLOURS[row_kind(name)] for name in names]
    bars = axis.bar(positions, best, color=colours)
    axis.scatter(positions, final, color="#DD8452", zorder=3, s=18)
    for bar, value in zip(bars, best, strict=True):
        axis.annotate(
            f"{value:.1f}",
            (bar.get_x() + bar.get_width() / 2, value),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 2),
            textcoords="offset points",
        )
    for name, value in workshop.items():
        x = names.index(name)
        axis.plot([x - 0.42, x + 0.42], [value, value], color="black", linewidth=2, zorder=4)
    shown = best + final + list(workshop.values())
    low, high = min(shown, default=0.0), max(shown, default=100.0)
    margin = max(2.0, 0.1 * (high - low))
    axis.set_ylim(max(0.0, low - margin), min(100.0, high + 2 * margin))
    axis.set_xticks(positions, names, rotation=20, ha="right")
    axis.set_ylabel("test accuracy %")
    axis.grid(axis="y", alpha=0.3)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour) for colour in KIND_COLOURS.values()]
    labels = ["baseline", "pretrained, fine-tuned", "pretrained, linear probe"]
    handles.append(plt.Line2D([], [], color="#DD8452", marker="o", linestyle=""))
    labels.append("last epoch")
    if workshop:
        handles.append(plt.Line2D([], [], color="black", linewidth=2))
        labels.append("workshop's result")
    axis.legend(handles, labels, loc="upper left", fontsize=7)
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
    chance: float | None = None,
    extra_chance: float | None = None,
) -> Path:
    """A loss per epoch (or step); `extra` adds curves on a second axis (e.g. pretext accuracy).
    `chance` and `extra_chance` draw what guessing would give, dashed, on each axis: a curve
    that stays on its chance line has learnt nothing."""
    figure, axis = plt.subplots(figsize=(6.5, 4))
    steps = np.arange(1, len(losses) + 1)
    axis.plot(steps, losses, marker=".", color="#4C72B0", label=ylabel)
    if chance is not None:
        axis.axhline(
            chance,
            color="#4C72B0",
            linestyle="--",
            linewidth=1,
            label=f"{ylabel} of guessing: {chance:.2f}",
        )
    axis.set(xlabel=xlabel, ylabel=ylabel, title=title)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.grid(alpha=0.3)
    handles, labels = axis.get_legend_handles_labels()
    if extra:
        other = axis.twinx()
        for label, values in extra.items():
            other.plot(
                np.arange(1, len(values) + 1), values, marker=".", color="#DD8452", label=label
            )
        if extra_chance is not None:
            other.axhline(
                extra_chance,
                color="#DD8452",
                linestyle="--",
                linewidth=1,
                label=f"chance: {extra_chance:.2f}",
            )
        other.set_ylabel(", ".join(extra))
        more_handles, more_labels = other.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    axis.legend(handles, labels, loc="center right", fontsize=8)
    return _save(figure, path)


def rotation_examples(
    rotated: np.ndarray, path, labels: Sequence[str] | None = None, title: str = ""
) -> Path:
    """`rotated` [N, 4, H, W, C]: each image (a row) as the implementation turned it, k = 0..3."""
    rotated = np.asarray(rotated)
    figure, axes = plt.subplots(
        len(rotated), 4, figsize=(6, 1.6 * len(rotated) + 0.6), squeeze=False
    )
    for row, images in enumerate(rotated):
        for k in range(4):
            axis = axes[row, k]
            axis.imshow(_display(images[k]), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(f"k = {k} ({90 * k} deg)", fontsize=9)
        if labels is not None:
            axes[row, 0].set_ylabel(labels[row], fontsize=9)
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)


POSITIONS = (
    "top-left",
    "top",
    "top-right",
    "left",
    "right",
    "bottom-left",
    "bottom",
    "bottom-right",
)
"""The context task's labels 0..7 in words (course spec, lab 3)."""


def mosaic(patches: np.ndarray, grid: int = 3, gap: int = 2) -> np.ndarray:
    """`patches` [grid * grid, p, p, C] laid out row-major in one image, `gap` white pixels
    apart: the grid as the patches show it, so a patch in the wrong place shows there."""
    patches = _display(patches)
    _, p, _, channels = patches.shape
    side = grid * p + (grid - 1) * gap
    white = 255 if patches.dtype == np.uint8 else 1.0
    canvas = np.full((side, side, channels), white, dtype=patches.dtype)
    for n, patch in enumerate(patches):
        row, column = divmod(n, grid)
        y, x = row * (p + gap), column * (p + gap)
        canvas[y : y + p, x : x + p] = patch
    return canvas


def _image_rows(rows: Sequence[Sequence[np.ndarray]], titles: Sequence[Sequence[str]], path,
                labels: Sequence[str] | None = None, title: str = "") -> Path:
    """A table of images, one row per example; `titles` gives each row's titles of its images
    (empty strings for none) and `labels` each row's name."""
    figure, axes = plt.subplots(
        len(rows),
        len(rows[0]),
        figsize=(1.8 * len(rows[0]), 1.8 * len(rows) + 0.5),
        squeeze=False,
    )
    for r, images in enumerate(rows):
        for c, image in enumerate(images):
            axis = axes[r, c]
            axis.imshow(_display(image), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(titles[r][c], fontsize=8)
        if labels is not None:
            axes[r, 0].set_ylabel(labels[r], fontsize=8)
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)


def context_examples(
    images: np.ndarray,
    centred: np.ndarray,
    jittered: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray],
    path,
    labels: Sequence[str] | None = None,
    title: str = "",
) -> Path:
    """One row per image: the image, its grid of centred patches and of jittered ones (as
    `[N, 9, p, p, C]` arrays, with the gaps between them), then the context task's centre and
    neighbour, titled with the position that the neighbour's label names."""
    center, neighbor, position = pairs
    rows = [
        [images[i], mosaic(centred[i]), mosaic(jittered[i]), center[i], neighbor[i]]
        for i in range(len(images))
    ]
    names = [
        POSITIONS[int(k)] if 0 <= int(k) < len(POSITIONS) else f"label {int(k)}" for k in position
    ]
    titles = [
        ["image", "centred patches", "jittered", "centre", f"neighbour: {name}"] for name in names
    ]
    return _image_rows(rows, titles, path, labels, title)


def jigsaw_examples(
    tiles: np.ndarray,
    label: np.ndarray,
    permutations: np.ndarray,
    path,
    labels: Sequence[str] | None = None,
    title: str = "",
) -> Path:
    """One row per puzzle: its `[9, p, p, C]` tiles as shuffled, then put back by the
    permutation its label names in `permutations` `[N, 9]` (tile j goes to cell
    `permutation[j]`): a wrong shuffle or label shows as a picture that is not whole (white
    where no tile went)."""
    rows = []
    for shuffled, k in zip(np.asarray(tiles), np.asarray(label), strict=True):
        order = np.asarray(permutations)[int(np.clip(k, 0, len(permutations) - 1))]
        solved = np.full_like(_display(shuffled), 255 if shuffled.dtype == np.uint8 else 1.0)
        solved[order] = _display(shuffled)
        rows.append([mosaic(shuffled), mosaic(solved)])
    titles = [["puzzle", "solved by its label"]] + [["", ""]] * (len(rows) - 1)
    return _image_rows(rows, titles, path, labels, title)


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


def confusion_matrix(
    labels: np.ndarray, predictions: np.ndarray, class_names: Sequence[str], path, title: str = ""
) -> Path:
    """Rows: the true class; columns: the predicted one; each cell the share of the row's test
    images: the diagonal is each class's accuracy, the rest says what it is taken for."""
    count = len(class_names)
    matrix = np.zeros((count, count))
    np.add.at(matrix, (np.asarray(labels), np.asarray(predictions)), 1)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, axis = plt.subplots(figsize=(6.5, 5.5))
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(count):
        for column in range(count):
            axis.text(
                column,
                row,
                f"{100 * shares[row, column]:.0f}",
                ha="center",
                va="center",
                fontsize=7,
                color="white" if shares[row, column] > 0.5 else "black",
            )
    axis.set_xticks(range(count), class_names, rotation=45, ha="right", fontsize=8)
    axis.set_yticks(range(count), class_names, fontsize=8)
    axis.set(xlabel="predicted class", ylabel="true class", title=title)
    figure.colorbar(image, ax=axis, fraction=0.046, label="share of the true class's images")
    return _save(figure, path)


def nearest_neighbours(
    queries: np.ndarray,
    query_names: Sequence[str],
    neighbours: np.ndarray,
    neighbour_names: Sequence[Sequence[str]],
    path,
    title: str = "",
) -> Path:
    """One row per query image: the query, then the training images closest to it in a
    backbone's features (`neighbours` [Q, K, H, W, C]), each named by its class. Neighbours of
    the query's own class mean the features group images by what they show."""
    rows, columns = len(queries), 1 + neighbours.shape[1]
    figure, axes = plt.subplots(
        rows, columns, figsize=(1.3 * columns, 1.4 * rows + 0.6), squeeze=False
    )
    for row in range(rows):
        cells = [(queries[row], f"query: {query_names[row]}")]
        cells += [(neighbours[row, k], neighbour_names[row][k]) for k in range(columns - 1)]
        for column, (image, name) in enumerate(cells):
            axis = axes[row, column]
            axis.imshow(_display(image), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            same = column == 0 or name == query_names[row]
            axis.set_title(name, fontsize=7, color="black" if same else "#C44E52")
    figure.suptitle(title, fontsize=10)
    return _save(figure, path)
