"""What an experiment leaves behind: results.json, results.md and the figures of the whole
table (the bar chart, the best row's confusion matrix, the training curves)."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from course.data import CLASS_NAMES
from course.experiments.rows import ROWS, WORKSHOP
from course.files import atomic_write
from course.i18n import experiment_text


def machine_description() -> str:
    """'2-core CPU, 24 GiB, no GPU (Linux x86_64, Python 3.11, TensorFlow 2.21.0)'."""
    try:
        with open("/proc/meminfo") as f:
            kib = int(f.readline().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        memory = ""
    try:
        import tensorflow as tf

        gpus = len(tf.config.list_physical_devices("GPU"))
        version = f", TensorFlow {tf.__version__}"
    except Exception:  # noqa: BLE001 - a description, never a reason to fail
        gpus, version = 0, ""
    gpu = f"{gpus} GPU" if gpus else "no GPU"
    return (
        f"{os.cpu_count()}-core CPU{memory}, {gpu} ({platform.system()} "
        f"{platform.machine()}, Python {platform.python_version()}{version})"
    )


def results_markdown(results: Mapping[str, Any]) -> str:
    """The table of results.md, with how it was made."""
    lines = [
        f"# course experiment {results['experiment']} ({results['budget']} budget)",
        "",
        (
            "| method | training | pretraining images | labelled images | test images "
            "| accuracy % (best epoch) | final_accuracy % (last epoch) | seconds |"
        ),
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["rows"]:
        dash = lambda n: str(n) if n else "-"  # noqa: E731
        known = ROWS.get(row["method"])
        lines.append(
            f"| {row['method']} | {known.description if known else row['method']} "
            f"| {dash(row['pretraining_images'])} | {dash(row['labelled_images'])} "
            f"| {row['test_images']} | {row['accuracy']:.2f} | {row['final_accuracy']:.2f} "
            f"| {row['seconds']:.0f} |"
        )
    budget = results.get("budget_details", {})
    options = results.get("options", {})
    lines += [
        "",
        (
            "`accuracy` is the best epoch's test accuracy, as the workshop reports it; "
            "`final_accuracy` is the last epoch's (choosing the best epoch on the test split "
            "flatters every row). `random` is uniform guessing. `seconds` of a pretrained row "
            "include its pretraining, which the fine-tuned and the linear-probe rows share."
        ),
        "",
        f"- command: `{results['command']}`",
        f"- date: {results['date']}",
        f"- machine: {results['machine']}",
        f"- wall time: {results['wall_seconds'] / 60:.1f} min ({results['wall_seconds']:.0f} s)",
        f"- data: {results['data']}; implementation: {results['impl']}",
    ]
    if budget:
        text = (
            f"- budget `{results['budget']}`: {budget['labelled_per_class']} labelled and "
            f"{budget['test_per_class']} test images per class, "
            f"{'all' if budget['unlabelled'] is None else budget['unlabelled']} training "
            f"images; Adam {budget['learning_rate']:g}, batch {budget['batch_size']}, "
            f"{budget['epochs']} epochs per labelled phase"
        )
        lines.append(text)
    if options:
        lines.append("- options: " + ", ".join(f"{k}={v}" for k, v in options.items()))
    for pretext, info in results.get("pretraining", {}).items():
        losses = info.get("loss", [])
        if losses:
            batch = f" (batch {info['batch_size']})" if "batch_size" in info else ""
            lines.append(
                f"- {pretext} pretraining: {info['epochs']} epochs{batch}, "
                f"{info.get('seconds', 0):.0f} s, loss {losses[0]:.4f} -> {losses[-1]:.4f}"
            )
    if results.get("figures"):
        lines += ["", "Figures: " + ", ".join(f"[{f}]({f})" for f in results["figures"])]
    return "\n".join(lines) + "\n"


def write_results(out: Path, results: Mapping[str, Any]) -> tuple[Path, Path]:
    """Writes DIR/results.json and DIR/results.md atomically; returns their paths."""
    out = Path(out)
    json_path, md_path = out / "results.json", out / "results.md"
    atomic_write(json_path, json.dumps(results, indent=2) + "\n")
    atomic_write(md_path, experiment_text(results_markdown(results)))  # the reader's language
    return json_path, md_path


def table_figures(runner, name: str) -> None:
    """results.png, confusion.png (of the best trained row) and training_curves.png."""
    from course import plots

    rows = list(runner.rows)
    table = list(runner.rows.values())
    plots.results_bar_chart(
        table,
        runner.figure("results.png"),
        workshop=WORKSHOP,
        title=f"course experiment {name} --budget {runner.budget.name}: "
        f"{table[0]['test_images']:,} test images",
    )
    trained = [m for m in rows if m in runner.predictions]
    if trained:
        best = max(trained, key=lambda m: runner.rows[m]["accuracy"])
        plots.confusion_matrix(
            runner.split.test_labels,
            runner.predictions[best],
            CLASS_NAMES,
            runner.figure("confusion.png"),
            title=f"{best}, the best row: {runner.rows[best]['final_accuracy']:.1f}% after its "
            "last epoch",
        )
    curves = {m: runner.histories[m] for m in rows if m in runner.histories}
    if curves:
        plots.training_curves(
            curves,
            runner.figure("training_curves.png"),
            title="labelled phases: test accuracy and loss per epoch",
        )
