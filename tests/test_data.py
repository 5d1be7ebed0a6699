"""course.data: loading image folders, the cache, tfds, and the workshop split (tiny inputs)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course import ROOT, data
from course.data import CIFAR10, CLASS_NAMES, DataError, load_cifar10, workshop_split

REAL_DATA = ROOT.parent / "shared" / "data" / "cifar10"

# File names of each class, in the natural order the loader must read them: a plain string sort
# would put 10.png before 9.png.
NAMES = ("1.png", "9.png", "10.png")


def pixel(split: str, label: int, index: int) -> int:
    """The gray level of an image in the fake folder: it encodes where the image belongs."""
    return (0 if split == "train" else 128) + label * 10 + index


def write_image(path: Path, value: int = 0, size=(32, 32), mode="RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, value, value)).save(path)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A tiny image folder: 3 PNGs per class and split, gray level = pixel(split, label, i)."""
    root = tmp_path / "cifar"
    for split in ("train", "test"):
        for label, name in enumerate(CLASS_NAMES):
            for i, file_name in enumerate(NAMES):
                write_image(root / split / name / file_name, pixel(split, label, i))
    return root


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_loads_shapes_dtypes_labels_and_order(folder, cache):
    d = load_cifar10(folder, cache_dir=cache)
    assert d.train_images.shape == (30, 32, 32, 3) and d.train_images.dtype == np.uint8
    assert d.test_images.shape == (30, 32, 32, 3) and d.test_images.dtype == np.uint8
    assert d.train_labels.dtype == np.int64 and d.test_labels.dtype == np.int64
    assert d.source == str(folder.resolve())
    # Class by class in label order, natural file order within a class.
    expected_labels = np.repeat(np.arange(10), 3)
    np.testing.assert_array_equal(d.train_labels, expected_labels)
    np.testing.assert_array_equal(d.test_labels, expected_labels)
    for split, images in (("train", d.train_images), ("test", d.test_images)):
        expected = [pixel(split, label, i) for label in range(10) for i in range(3)]
        np.testing.assert_array_equal(images[:, 0, 0, 0], expected)
        assert (images == images[:, :1, :1, :1]).all()  # PNG is lossless: every pixel exact


def test_natural_sort_key():
    names = [
        "10.jpg",
        "9.jpg",
        "0000.jpg",
        "b2.png",
        "b10.png",
        "a.png",
        "1.jpg",
        "01.jpg",
        "a.png1.png",
    ]
    assert sorted(names, key=data._natural_key) == [
        "0000.jpg",
        "01.jpg",
        "1.jpg",
        "9.jpg",
        "10.jpg",
        "a.png",
        "a.png1.png",
        "b2.png",
        "b10.png",
    ]


def test_ignores_hidden_and_other_files(folder, cache):
    (folder / "train" / "cat" / ".DS_Store").write_bytes(b"junk")
    (folder / "train" / "cat" / "notes.txt").write_text("not an image")
    write_image(folder / "train" / ".ipynb_checkpoints" / "x.png")
    (folder / "README.txt").write_text("about this folder")
    d = load_cifar10(folder, cache_dir=cache)
    assert len(d.train_labels) == 30


def test_reads_jpeg_and_uppercase_suffixes(folder, cache):
    write_image(folder / "test" / "dog" / "20.JPG", 200)
    write_image(folder / "test" / "dog" / "30.jpeg", 100)
    d = load_cifar10(folder, cache_dir=cache)
    dogs = d.test_images[d.test_labels == CLASS_NAMES.index("dog")]
    assert len(dogs) == 5
    assert abs(int(dogs[3].mean()) - 200) <= 2 and abs(int(dogs[4].mean()) - 100) <= 2


def test_real_jpegs_decode(tmp_path, cache):
    """A few files of the shared CIFAR-10 copy, so the fast tests see the real JPEG format."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"{REAL_DATA} is not here")
    for split in ("train", "test"):
        for name in CLASS_NAMES:
            for file in ("0000.jpg", "0001.jpg"):
                target = tmp_path / "real" / split / name / file
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(REAL_DATA / split / name / file, target)
    d = load_cifar10(tmp_path / "real", cache_dir=cache)
    assert d.train_images.shape == (20, 32, 32, 3) and d.test_images.shape == (20, 32, 32, 3)
    assert 20 < d.train_images.mean() < 235  # real pictures, not blank


# --- errors ----------------------------------------------------------------------------------


def error_for(source, cache) -> str:
    with pytest.raises(DataError) as info:
        load_cifar10(source, cache_dir=cache)
    message = str(info.value)
    assert "\n" not in message  # the command line prints it as one line
    return message


def test_missing_folder(tmp_path, cache):
    message = error_for(tmp_path / "nowhere", cache)
    assert str(tmp_path / "nowhere") in message and "does not exist" in message
    assert "train/<class>" in message  # says what the layout should be


def test_not_a_folder(tmp_path, cache):
    (tmp_path / "file.zip").write_bytes(b"PK")
    assert "is not a folder" in error_for(tmp_path / "file.zip", cache)


def test_empty_folder(tmp_path, cache):
    (tmp_path / "empty").mkdir()
    message = error_for(tmp_path / "empty", cache)
    assert "no train/ or test/ folder" in message and str(tmp_path / "empty") in message


def test_missing_test_folder(folder, cache):
    shutil.rmtree(folder / "test")
    message = error_for(folder, cache)
    assert "no test/ folder" in message and "train/" not in message.split(";")[0]


def test_unknown_and_missing_class_folders(folder, cache):
    (folder / "train" / "cat").rename(folder / "train" / "kitten")
    message = error_for(folder, cache)
    assert "unknown class folders kitten" in message
    assert "missing class folders cat" in message
    assert ", ".join(CLASS_NAMES) in message  # lists what is expected
    assert str(folder / "train") in message


def test_class_folder_without_images(folder, cache):
    for f in (folder / "test" / "ship").iterdir():
        f.unlink()
    (folder / "test" / "ship" / "readme.txt").write_text("moved")
    message = error_for(folder, cache)
    assert str(folder / "test" / "ship") in message and "no images" in message


def test_truncated_jpeg(folder, cache):
    path = folder / "train" / "bird" / "5.jpg"
    write_image(path, 50)
    path.write_bytes(path.read_bytes()[:300])
    message = error_for(folder, cache)
    assert str(path) in message and "cannot read image" in message


def test_not_an_image(folder, cache):
    path = folder / "train" / "bird" / "5.png"
    path.write_bytes(b"this is not a PNG file")
    message = error_for(folder, cache)
    assert str(path) in message and "not a JPEG or PNG" in message


def test_wrong_size(folder, cache):
    path = folder / "test" / "frog" / "7.png"
    write_image(path, size=(16, 16))
    message = error_for(folder, cache)
    assert str(path) in message and "16x16 RGB" in message and "32x32 RGB" in message


def test_grayscale(folder, cache):
    path = folder / "test" / "frog" / "7.jpg"
    write_image(path, mode="L")
    message = error_for(folder, cache)
    assert str(path) in message and "32x32 L (grayscale)" in message


# --- cache -----------------------------------------------------------------------------------


def fail_to_decode(path):
    raise AssertionError(f"decoded {path}: the cache was not used")


def test_second_load_comes_from_the_cache(folder, cache, monkeypatch):
    first = load_cifar10(folder, cache_dir=cache)
    assert len(list(cache.iterdir())) == 1
    monkeypatch.setattr(data, "_read_image", fail_to_decode)
    second = load_cifar10(folder, cache_dir=cache)
    for name in data._CACHE_FIELDS:
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
        assert getattr(first, name).dtype == getattr(second, name).dtype


def test_cache_dir_from_environment(folder, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "env-cache"))
    load_cifar10(folder)
    assert len(list((tmp_path / "env-cache").iterdir())) == 1


def test_changed_file_rebuilds_the_cache(folder, cache):
    load_cifar10(folder, cache_dir=cache)
    path = folder / "train" / "deer" / "9.png"
    write_image(path, 77)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # coarse-mtime filesystems
    d = load_cifar10(folder, cache_dir=cache)
    assert d.train_images[CLASS_NAMES.index("deer") * 3 + 1, 0, 0, 0] == 77
    assert len(list(cache.iterdir())) == 1  # replaced, not one more file


def test_added_file_rebuilds_the_cache(folder, cache):
    load_cifar10(folder, cache_dir=cache)
    write_image(folder / "test" / "truck" / "11.png", 99)
    d = load_cifar10(folder, cache_dir=cache)
    assert len(d.test_labels) == 31 and d.test_images[-1, 0, 0, 0] == 99


def test_corrupt_cache_is_rebuilt(folder, cache, monkeypatch):
    expected = load_cifar10(folder, cache_dir=cache).train_images
    (cache_file,) = cache.iterdir()
    decoded = []
    real_read = data._read_image
    monkeypatch.setattr(data, "_read_image", lambda p: decoded.append(p) or real_read(p))

    def flip_a_pixel(b: bytes) -> bytes:  # one bit of the pixels; the CRC-32 catches it
        middle = len(b) // 2
        return b[:middle] + bytes([b[middle] ^ 1]) + b[middle + 1 :]

    for damage in (lambda b: b[: len(b) // 2], lambda b: b"garbage", flip_a_pixel):
        cache_file.write_bytes(damage(cache_file.read_bytes()))
        decoded.clear()
        d = load_cifar10(folder, cache_dir=cache)
        assert decoded, "a damaged cache must be rebuilt"
        np.testing.assert_array_equal(d.train_images, expected)


def test_leftover_temp_file_is_ignored(folder, cache, monkeypatch):
    cache.mkdir()
    cache_file = data._cache_file(cache, folder.resolve())
    (cache / f".{cache_file.name}.abc123.tmp").write_bytes(b"half a cache")
    load_cifar10(folder, cache_dir=cache)
    monkeypatch.setattr(data, "_read_image", fail_to_decode)
    assert len(load_cifar10(folder, cache_dir=cache).train_labels) == 30


def test_interrupted_write_leaves_no_file(folder, cache, monkeypatch):
    def write_some_then_fail(file, *args, **kwargs):
        file.write(b"PK\x03\x04 the first bytes of a zip")
        raise RuntimeError("interrupted")

    monkeypatch.setattr(np, "savez", write_some_then_fail)
    with pytest.raises(RuntimeError, match="interrupted"):
        load_cifar10(folder, cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_unwritable_cache_only_warns(folder, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache folder should be")
    with pytest.warns(RuntimeWarning, match="could not write the data cache"):
        d = load_cifar10(folder, cache_dir=blocker / "cache")
    assert len(d.train_labels) == 30


# --- tensorflow-datasets (a fake module: there is no internet here) ----------------------------


def fake_tfds(monkeypatch, load):
    """A stand-in for tensorflow-datasets, as if the download host could be reached."""
    module = types.SimpleNamespace(load=load, as_numpy=lambda x: x)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", module)
    monkeypatch.setattr(data, "_reachable", lambda host: True)
    monkeypatch.setenv("TFDS_DATA_DIR", str(Path(tempfile.mkdtemp()) / "tensorflow_datasets"))


def test_tfds_failure_suggests_a_folder(monkeypatch):
    def load(*args, **kwargs):
        raise ConnectionError("Failed to resolve 'www.cs.toronto.edu'\nmore details")

    fake_tfds(monkeypatch, load)
    with pytest.raises(DataError) as info:
        load_cifar10("tfds")
    message = str(info.value)
    assert "ConnectionError" in message and "--data PATH" in message and "\n" not in message


def test_tfds_order_is_restored_and_class_major(monkeypatch):
    rng = np.random.default_rng(0)

    def split(prefix, n):
        # tfds stores the examples shuffled; "id" keeps the original index.
        original = np.arange(n)
        labels = original % 10
        shuffled = rng.permutation(n)
        images = np.zeros((n, 32, 32, 3), np.uint8)
        images[:, 0, 0, 0] = original[shuffled]
        ids = np.array([f"{prefix}_{i:05d}".encode() for i in original[shuffled]], dtype=object)
        return {"image": images, "label": labels[shuffled], "id": ids}

    fake_tfds(monkeypatch, lambda *a, **k: [split("train", 50), split("test", 30)])
    d = load_cifar10("tfds")
    assert d.source == "tfds" and d.train_labels.dtype == np.int64
    np.testing.assert_array_equal(d.train_labels, np.repeat(np.arange(10), 5))
    # Within a class, the original order: class c holds originals c, c + 10, c + 20, ...
    np.testing.assert_array_equal(d.train_images[:5, 0, 0, 0], [0, 10, 20, 30, 40])
    np.testing.assert_array_equal(d.test_images[0:3, 0, 0, 0], [0, 10, 20])
    np.testing.assert_array_equal(d.test_images[3:6, 0, 0, 0], [1, 11, 21])


# --- workshop split --------------------------------------------------------------------------


def fake_data(train_per_class: int, test_per_class: int, interleaved: bool) -> CIFAR10:
    """A CIFAR10 whose "images" are their own indices, so a split shows where each came from."""

    def split(per_class):
        n = per_class * 10
        labels = np.arange(n) % 10 if interleaved else np.repeat(np.arange(10), per_class)
        return np.arange(n), labels.astype(np.int64)

    train_images, train_labels = split(train_per_class)
    test_images, test_labels = split(test_per_class)
    return CIFAR10(train_images, train_labels, test_images, test_labels, source="fake")


@pytest.mark.parametrize("interleaved", [False, True])
def test_workshop_split_defaults(interleaved):
    d = fake_data(5000, 1000, interleaved)
    s = workshop_split(d)
    assert len(s.unlabelled_images) == len(s.all_images) == len(s.all_labels) == 50_000
    assert len(s.labelled_images) == len(s.labelled_labels) == 5000
    assert len(s.test_images) == len(s.test_labels) == 5000
    for c in range(10):
        of_class = np.flatnonzero(d.test_labels == c)  # the data set's order
        np.testing.assert_array_equal(s.labelled_images[s.labelled_labels == c], of_class[:500])
        np.testing.assert_array_equal(s.test_images[s.test_labels == c], of_class[500:])
    # Class-major outputs; the image arrays follow their labels.
    np.testing.assert_array_equal(s.labelled_labels, np.repeat(np.arange(10), 500))
    np.testing.assert_array_equal(s.test_labels, np.repeat(np.arange(10), 500))
    np.testing.assert_array_equal(s.all_labels, np.repeat(np.arange(10), 5000))
    np.testing.assert_array_equal(d.train_labels[s.all_images], s.all_labels)
    assert s.unlabelled_images is s.all_images
    assert not set(s.labelled_images) & set(s.test_images)


def test_workshop_split_quick_sizes():
    d = fake_data(10, 8, interleaved=True)
    s = workshop_split(d, labelled_per_class=3, test_per_class=4, unlabelled=25)
    assert len(s.labelled_labels) == 30 and len(s.test_labels) == 40
    np.testing.assert_array_equal(np.bincount(s.all_labels), [3] * 5 + [2] * 5)
    # The first images of each class: class 0 is 0, 10, 20 when classes are interleaved.
    np.testing.assert_array_equal(s.unlabelled_images[:3], [0, 10, 20])
    np.testing.assert_array_equal(s.labelled_images[:3], [0, 10, 20])
    np.testing.assert_array_equal(s.test_images[:4], [30, 40, 50, 60])


def test_workshop_split_too_few_test_images():
    d = fake_data(10, 8, interleaved=False)
    with pytest.raises(DataError, match="has 8 images of class 'airplane'.*needs 1000"):
        workshop_split(d)


# --- the shared copy of CIFAR-10 -------------------------------------------------------------


@pytest.mark.slow
def test_shared_cifar10():
    """All 60,000 images (decoded once, about 5 s, then from the user's cache)."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"{REAL_DATA} is not here")
    d = load_cifar10(REAL_DATA)
    assert d.train_images.shape == (50_000, 32, 32, 3)
    assert d.test_images.shape == (10_000, 32, 32, 3)
    np.testing.assert_array_equal(d.train_labels, np.repeat(np.arange(10), 5000))
    np.testing.assert_array_equal(d.test_labels, np.repeat(np.arange(10), 1000))
    # The statistics the course standardizes with are those of these pixels (JPEG moves them
    # by less than 0.002). float64 per channel: a float32 sum over 51M values drifts by 0.1.
    channels = [d.train_images[..., c] for c in range(3)]
    mean = np.array([c.mean(dtype=np.float64) for c in channels]) / 255
    std = np.array([c.std(dtype=np.float64) for c in channels]) / 255
    np.testing.assert_allclose(mean, data.CIFAR10_MEAN, atol=3e-3)
    np.testing.assert_allclose(std, data.CIFAR10_STD, atol=3e-3)
    s = workshop_split(d)
    assert (len(s.unlabelled_images), len(s.labelled_labels), len(s.test_labels)) == (
        50_000,
        5000,
        5000,
    )
