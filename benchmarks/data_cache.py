"""How long loading CIFAR-10 from an image folder takes, uncached and cached.

Run from the repository root:

    .venv/bin/python benchmarks/data_cache.py [--data ../shared/data/cifar10]

With a fresh, temporary cache folder it times: the listing that builds the cache key; the first
load (decodes every image, writes the cache); cached loads, in new processes and repeated in
this one; reading the cache's .npz against plain .npy files; and, on a sample of files, PIL
against tf.io.decode_jpeg. Decoding 60,000 JPEGs keeps one core busy for a few seconds.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from course import ROOT, data


def _seconds(fn, repeat: int = 1) -> tuple[float, object]:
    """Best wall time of `repeat` calls (the best is the least disturbed by other processes)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def compare_decoders(files: list, sample: int) -> None:
    """PIL (what the loader uses) against tf.io.decode_jpeg, from bytes in memory, per 60,000."""
    import numpy as np
    import tensorflow as tf

    paths = [f.path for f in files if f.path.lower().endswith((".jpg", ".jpeg"))][:sample]
    if not paths:
        return
    scale = 60_000 / len(paths)
    read, encoded = _seconds(lambda: [Path(p).read_bytes() for p in paths], repeat=3)
    pil, pil_images = _seconds(
        lambda: [data._decode_image(e, p) for e, p in zip(encoded, paths, strict=False)], repeat=3
    )

    def tf_decode(dct_method):
        return [tf.io.decode_jpeg(e, dct_method=dct_method).numpy() for e in encoded]

    tf_decode("")  # the first call builds TensorFlow's kernels
    tf_time, tf_images = _seconds(lambda: tf_decode("INTEGER_ACCURATE"), repeat=3)
    tf_default = tf_decode("")
    same = all(np.array_equal(a, b) for a, b in zip(pil_images, tf_images, strict=False))
    differ = np.mean([np.mean(a != b) for a, b in zip(pil_images, tf_default, strict=False)])
    most = max(
        int(np.abs(a.astype(int) - b).max()) for a, b in zip(pil_images, tf_default, strict=False)
    )
    print(
        f"{len(paths)} JPEGs, times scaled to 60,000: read files {read * scale:.1f} s; decode "
        f"with PIL {pil * scale:.1f} s, with tf.io.decode_jpeg (eager, INTEGER_ACCURATE) "
        f"{tf_time * scale:.1f} s; same pixels: {same} (TensorFlow's default dct_method "
        f"changes {100 * differ:.0f}% of the values, by up to {most})"
    )


def compare_formats(folder: Path) -> None:
    """Reading the cache (.npz, uncompressed) against the same arrays as plain .npy files."""
    import numpy as np

    (cache,) = [p for p in folder.iterdir() if p.suffix == ".npz"]
    with np.load(cache) as z:
        key = str(z["key"])
        for name in data._CACHE_FIELDS:
            np.save(folder / f"{name}.npy", z[name])
    npz, _ = _seconds(lambda: data._read_cache(cache, key), repeat=3)
    npy, _ = _seconds(lambda: [np.load(folder / f"{n}.npy") for n in data._CACHE_FIELDS], repeat=3)
    print(
        f"read the arrays, page cache warm, memory reused: the cache's .npz {npz:.3f} s, "
        f"plain .npy files {npy:.3f} s"
    )


def fresh_process_load(root: Path, cache_dir: str) -> float:
    """A cached load in a new Python process, as a command pays it (fresh memory to fault in)."""
    code = (
        "import time; from course.data import load_cifar10; t = time.perf_counter(); "
        f"load_cifar10({str(root)!r}, cache_dir={cache_dir!r}); "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(out.stdout.split()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default=str(ROOT.parent / "shared" / "data" / "cifar10"),
        help="image folder (default: ../shared/data/cifar10)",
    )
    parser.add_argument(
        "--decoder-sample",
        type=int,
        default=2000,
        help="JPEGs for the decoder comparison (0 skips it)",
    )
    args = parser.parse_args(argv)
    print("command:", shlex.join([".venv/bin/python", "benchmarks/data_cache.py", *sys.argv[1:]]))

    root = Path(args.data).resolve()
    listing, files = _seconds(lambda: data._list_images(root), repeat=3)
    key, _ = _seconds(lambda: data._cache_key(root, files), repeat=3)
    print(f"list and stat {len(files)} files: {listing:.2f} s; cache key: {key:.3f} s")

    with tempfile.TemporaryDirectory(prefix="ssl-course-bench-") as cache_dir:
        first, loaded = _seconds(lambda: data.load_cifar10(root, cache_dir=cache_dir))
        size = sum(p.stat().st_size for p in Path(cache_dir).iterdir()) / 2**20
        cached, _ = _seconds(lambda: data.load_cifar10(root, cache_dir=cache_dir), repeat=3)
        fresh = min(fresh_process_load(root, cache_dir) for _ in range(3))
        print(
            f"{loaded}: first load (decode, write the {size:.0f} MiB cache) {first:.1f} s; "
            f"cached load {fresh:.2f} s in a new process, {cached:.2f} s repeated in one"
        )
        compare_formats(Path(cache_dir))

    if args.decoder_sample:
        compare_decoders(files, args.decoder_sample)


if __name__ == "__main__":
    main()
