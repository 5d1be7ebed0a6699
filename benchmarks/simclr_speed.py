"""How fast lab 4's SimCLR pieces run on the CPU: `augment`, `nt_xent_loss`, `contrastive_step`.

Run from the repository root:

    .venv/bin/python benchmarks/simclr_speed.py [--impl solutions] [--threads 2]

Three parts (`--parts augment loss step`, all by default):

- augment: images per second of `augment` on batches of 512 random 32x32 float images, called in
  a Python loop (eagerly and as a `tf.function`) and in a `tf.data` pipeline
  (`from_tensor_slices(x).batch(512).enumerate().map(augment with a per-batch seed).prefetch()`,
  one pass over the images per timing, so each timing includes making the iterator); `map`
  traces the function into a graph by itself. Also each augmentation alone, as a `tf.function`.
- loss: `nt_xent_loss` forward and backward (a `tf.function` returning the loss and both
  gradients) on 128-d embeddings, for B = 256 ... 4096 pairs, each B in a fresh process. Two
  memory figures for one forward and backward: the peak of TensorFlow's CPU allocator above
  what it held before (`tf.config.experimental.get_memory_info`: the tensors TensorFlow
  allocates), and the growth of the process's peak resident set size (`VmHWM`, reset through
  /proc/self/clear_refs, so Linux only), which counts all memory the process touches but misses
  memory the allocator had already taken from the system before the call.
- step: seconds per `contrastive_step` with the course's backbone and projection head, batch 256,
  eagerly and as a `tf.function`.

Each figure is the best of `--repeat` runs after a warm-up run, the runs of different variants
interleaved: the machine is shared, and the best run is the least disturbed one. Wall time is
what a user waits; CPU time (user + system time of all the process's threads) is the work, which
other processes on the machine inflate far less.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time

from course import ROOT

BATCH_SIZES = (256, 512, 1024, 2048, 4096)
AUGMENT_BATCH = 512
STEP_BATCH = 256
EMBEDDING_DIM = 128


def _setup_tf(threads: int):
    """TensorFlow, limited to `threads` threads (set once, before TensorFlow starts its pools)."""
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    if tf.config.threading.get_intra_op_parallelism_threads() != threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    return tf


def _best_interleaved(runs: dict, repeat: int) -> dict:
    """Best wall time and best CPU time, in seconds, of each function in `runs`.

    After one warm-up call of each, the repeats go round the functions in turn, so a slow spell
    on the shared machine touches all of them rather than one. CPU time is this process's user +
    system time (all its threads): the work done, which other processes inflate far less than
    the wall time.
    """
    for run in runs.values():
        run()
    best = {name: (float("inf"), float("inf")) for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def bench_augment(lab, args) -> None:
    import numpy as np

    tf = _setup_tf(args.threads)
    images = np.random.default_rng(0).uniform(0, 1, (args.images, 32, 32, 3)).astype(np.float32)
    batches = [
        tf.constant(images[i : i + AUGMENT_BATCH]) for i in range(0, len(images), AUGMENT_BATCH)
    ]

    def batch_seed(i):
        return tf.stack([tf.constant(1, tf.int64), tf.cast(i, tf.int64)])

    def loop(augment):
        def run():
            for i, batch in enumerate(batches):
                augment(batch, batch_seed(i)).numpy()

        return run

    def pipeline(augment, parallel=None):
        options = tf.data.Options()
        options.threading.private_threadpool_size = args.threads
        dataset = (
            tf.data.Dataset.from_tensor_slices(images)
            .batch(AUGMENT_BATCH)
            .enumerate()
            .map(lambda i, batch: augment(batch, batch_seed(i)), num_parallel_calls=parallel)
            .prefetch(tf.data.AUTOTUNE)
            .with_options(options)
        )

        def run():
            for batch in dataset:
                batch.numpy()

        return run

    compiled = tf.function(lab.augment)
    runs = {
        "augment, eager, Python loop over batches": loop(lab.augment),
        "augment, tf.function, Python loop over batches": loop(compiled),
        "tf.data map(augment)": pipeline(lab.augment),
        "tf.data map(tf.function(augment))": pipeline(compiled),
        "tf.data map(augment), num_parallel_calls=AUTOTUNE": pipeline(
            lab.augment, tf.data.AUTOTUNE
        ),
    }
    for name in ("random_resized_crop", "color_jitter", "random_grayscale"):
        runs[f"{name} alone, tf.function, Python loop"] = loop(tf.function(getattr(lab, name)))
    print(
        f"\naugment: {len(images)} random 32x32 float images in batches of {AUGMENT_BATCH}, "
        f"{args.threads} threads, best of {args.repeat}"
    )
    print(f"| {'how':<52} | images/s | wall ms per batch | CPU ms per batch |")
    print(f"|{'-' * 54}|---------:|------------------:|-----------------:|")
    batches_per_run = len(images) / AUGMENT_BATCH
    for name, (wall, cpu) in _best_interleaved(runs, args.repeat).items():
        print(
            f"| {name:<52} | {len(images) / wall:8.0f} | {1e3 * wall / batches_per_run:17.1f} "
            f"| {1e3 * cpu / batches_per_run:16.1f} |",
            flush=True,
        )


def _status_bytes(field: str) -> int:
    """A memory field of /proc/self/status (VmRSS: resident now; VmHWM: the peak), in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak_rss() -> int:
    """Resets the process's peak resident set size to the current one (Linux); returns it.

    Without the reset, the peak (`VmHWM`, also `ru_maxrss`) keeps the high-water mark of
    importing TensorFlow, which hides smaller peaks that come later.
    """
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    return _status_bytes("VmRSS")


def loss_worker(impl: str, pairs: int, threads: int, repeat: int) -> dict:
    """Time and memory of `nt_xent_loss` forward + backward for one B, in this fresh process."""
    tf = _setup_tf(threads)
    from course.impl import load_lab

    lab = load_lab(impl, "lab4")
    spec = tf.TensorSpec([None, EMBEDDING_DIM], tf.float32)

    @tf.function(input_signature=[spec, spec])
    def forward_backward(z1, z2):
        with tf.GradientTape() as tape:
            tape.watch([z1, z2])
            loss = lab.nt_xent_loss(z1, z2, 0.5)
        return (loss, *tape.gradient(loss, [z1, z2]))

    def run(z1, z2):
        loss, g1, g2 = forward_backward(z1, z2)
        return float(loss), g1.numpy(), g2.numpy()

    small = tf.random.normal([8, EMBEDDING_DIM])
    run(small, small)  # traces the function and loads the kernels
    z1 = tf.random.normal([pairs, EMBEDDING_DIM], seed=1)
    z2 = z1 + 0.5 * tf.random.normal([pairs, EMBEDDING_DIM], seed=2)
    tf.config.experimental.reset_memory_stats("CPU:0")
    held = tf.config.experimental.get_memory_info("CPU:0")["current"]
    rss = _reset_peak_rss()
    loss, _, _ = run(z1, z2)
    rss_peak = _status_bytes("VmHWM")
    allocator_peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    wall, cpu = _best_interleaved({"loss": lambda: run(z1, z2)}, repeat)["loss"]
    return {
        "pairs": pairs,
        "loss": loss,
        "wall": wall,
        "cpu": cpu,
        "logits_mib": (2 * pairs) ** 2 * 4 / 2**20,
        "allocator_peak_mib": (allocator_peak - held) / 2**20,
        "peak_rss_growth_mib": (rss_peak - rss) / 2**20,
    }


def bench_loss(args) -> None:
    print(
        f"\nnt_xent_loss forward + backward, {EMBEDDING_DIM}-d embeddings, temperature 0.5, "
        f"{args.threads} threads, best of {args.repeat}, a fresh process per B"
    )
    print(
        "| B (pairs) | one 2B x 2B float32 MiB | wall ms | CPU ms | TF allocator peak MiB "
        "| peak RSS growth MiB |"
    )
    print(
        "|----------:|------------------------:|--------:|-------:|----------------------:"
        "|--------------------:|"
    )
    for pairs in args.batch_sizes:
        command = [
            sys.executable,
            __file__,
            "--impl",
            args.impl,
            "--threads",
            str(args.threads),
            "--repeat",
            str(args.repeat),
            "--loss-worker",
            str(pairs),
        ]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            print(f"| {pairs:9d} | failed: {done.stderr.strip().splitlines()[-1:]} |")
            continue
        r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"| {pairs:9d} | {r['logits_mib']:23.0f} | {1e3 * r['wall']:7.0f} "
            f"| {1e3 * r['cpu']:6.0f} | {r['allocator_peak_mib']:21.0f} "
            f"| {r['peak_rss_growth_mib']:19.0f} |",
            flush=True,
        )


def bench_step(lab, args) -> None:
    import keras
    import numpy as np

    tf = _setup_tf(args.threads)
    from course.impl import load_lab

    rng = np.random.default_rng(0)
    images = tf.constant(rng.uniform(0, 1, (STEP_BATCH, 32, 32, 3)).astype(np.float32))
    runs = {}
    for name in ("eager", "tf.function"):
        keras.utils.set_random_seed(0)
        encoder, head = (
            load_lab(args.impl, "lab1").build_backbone(),
            lab.build_projection_head(512),
        )
        optimizer = keras.optimizers.Adam(1e-3)
        optimizer.build(encoder.trainable_variables + head.trainable_variables)
        step = lab.contrastive_step if name == "eager" else tf.function(lab.contrastive_step)
        seeds = iter(range(10**9))

        def run(step=step, encoder=encoder, head=head, optimizer=optimizer, seeds=seeds):
            seed = tf.constant([next(seeds), 0], tf.int64)
            step(encoder, head, optimizer, images, seed).numpy()

        runs[name] = run
    print(
        "\ncontrastive_step: course backbone, projection head 512 -> 512 -> 128, Adam, batch "
        f"{STEP_BATCH} (2 x {STEP_BATCH} views), {args.threads} threads, best of {args.repeat}"
    )
    print("| how         | wall s per step | CPU s per step | images/s |")
    print("|-------------|----------------:|---------------:|---------:|")
    for name, (wall, cpu) in _best_interleaved(runs, args.repeat).items():
        print(
            f"| {name:<11} | {wall:15.3f} | {cpu:14.3f} | {STEP_BATCH / wall:8.0f} |", flush=True
        )


def main(argv=None) -> int:
    parts = ["augment", "loss", "step"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--impl", default="solutions", help="solutions, labs, or a folder holding lab4_simclr.py"
    )
    parser.add_argument("--parts", nargs="+", default=parts, choices=parts)
    parser.add_argument("--images", type=int, default=16384, help="images for the augment part")
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=list(BATCH_SIZES),
        help="numbers of pairs B for the loss part",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=2,
        help="TensorFlow's intra- and inter-op threads, and tf.data's",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="timed runs per figure (the best is reported)"
    )
    parser.add_argument("--loss-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.loss_worker:
        print(json.dumps(loss_worker(args.impl, args.loss_worker, args.threads, args.repeat)))
        return 0

    shown = [
        "--impl",
        args.impl,
        "--parts",
        *args.parts,
        "--images",
        str(args.images),
        "--batch-sizes",
        *map(str, args.batch_sizes),
        "--threads",
        str(args.threads),
        "--repeat",
        str(args.repeat),
    ]
    print(
        "reproduce with: .venv/bin/python benchmarks/simclr_speed.py " + shlex.join(shown),
        flush=True,
    )
    lab = None
    if {"augment", "step"} & set(args.parts):
        _setup_tf(args.threads)
        from course.impl import load_lab

        lab = load_lab(args.impl, "lab4")
    if "augment" in args.parts:
        bench_augment(lab, args)
    if "loss" in args.parts:
        bench_loss(args)
    if "step" in args.parts:
        bench_step(lab, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
