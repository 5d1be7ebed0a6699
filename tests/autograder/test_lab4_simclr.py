"""Autograder for lab 4, the public checks: SimCLR.

Each test is one check worth points; its docstring's first line is what the report calls it. The
checks here are public (students run them with `course check`); those that need a reference are
in `test_lab4_simclr_hidden.py`, which only the staff have.
Tests run in a process without TensorFlow: `lab.f(...)` runs the student's function in a worker,
and `probe_*` functions run there too, returning plain data. Probes return raw outputs and leave
every comparison to the test: the student's code may have patched NumPy in the worker.

Random augmentations are graded by their properties, never by comparison with the reference's
draws (a correct implementation may draw differently):

- crops are recovered from a test image whose pixels hold their own coordinates (channel 0 is
  x / (W - 1), channel 1 is y / (H - 1)): bilinear resampling keeps such ramps linear, so the slope
  of a crop's ramps gives its width and height, and their middle its position;
- colour jitter is measured on images where only one operation can act: a flat grey image changes
  only by brightness, a grey two-tone image only by brightness and contrast, and the hue of a flat
  colour changes only by the hue shift;
- probabilities are counted over many images of one call with fixed seeds, with margins of five
  standard deviations or more, so that a correct implementation never fails by bad luck.

The loss is compared with the values of NT-Xent on fixed embeddings, shipped as data
(`course.grading.expected`: computed by the hidden module's NumPy NT-Xent, with the value of each
common mistake, so that a wrong value can be explained). The training step is checked for what it
does without a reference (two different views, the loss before the update, the temperature
passed on, every weight trained); the hidden checks compare its loss with NT-Xent of the two views
it made (recorded by wrapping the lab's `augment`).
"""

import colorsys

import numpy as np
import pytest

from course.grading import expected
from course.grading.codec import AsTensor
from course.grading.probes.lab4 import probe_head, probe_loss_gradient, probe_step

LAB = "lab4"
EXPECTED = expected.load(LAB)

rng = np.random.default_rng(4)


def coordinate_images(batch, height, width):
    """Images whose pixels hold their coordinates: channel 0 = x / (W - 1), channel 1 = y / (H -
    1),
    channel 2 = 1/2. Bilinear resampling keeps these ramps exactly linear."""
    x = np.broadcast_to(np.linspace(0.0, 1.0, width)[None, :], (height, width))
    y = np.broadcast_to(np.linspace(0.0, 1.0, height)[:, None], (height, width))
    image = np.stack([x, y, np.full((height, width), 0.5)], axis=-1).astype(np.float32)
    return np.repeat(image[None], batch, axis=0)


def check_images(out, shape, what):
    out = np.asarray(out)
    assert out.shape == tuple(shape), (
        f"{what} should return images of shape {tuple(shape)}, got {out.shape}"
    )
    assert out.dtype == np.float32, f"{what} should return float32 images, got {out.dtype}"
    assert np.isfinite(out).all(), f"{what} returned NaN or infinite values"
    low, high = float(out.min()), float(out.max())
    assert low >= 0.0 and high <= 1.0, (
        f"{what} should return values in [0, 1], got values from {low:.4g} to {high:.4g}: clip the"
        " result to [0, 1]"
    )
    return out


def distinct(images, atol=1e-6):
    """How many of `images` differ (by more than atol) from all the earlier ones."""
    kept = []
    for image in np.asarray(images, dtype=np.float64):
        if not any(np.abs(image - other).max() <= atol for other in kept):
            kept.append(image)
    return len(kept)


# -- random_resized_crop
# ---------------------------------------------------------------------------

CROP_SIDE = 64
CROP_BATCH = 64
# How far (in pixels, per side) a measured crop may be from its bounds: boxes measured between
# pixel centres or pixel edges differ by one pixel, and integer-pixel boxes round by half a pixel.
CROP_SLACK = 1.5


def _line_fit(profile):
    """Least-squares lines through profile [B, N] over its interior points 1..N-2: slope,
    intercept, and
    the largest residual there."""
    n = profile.shape[1]
    j = np.arange(1, n - 1, dtype=np.float64)
    values = profile[:, 1:-1]
    jm, vm = j.mean(), values.mean(axis=1, keepdims=True)
    slope = ((j - jm) * (values - vm)).sum(axis=1) / ((j - jm) ** 2).sum()
    intercept = vm[:, 0] - slope * jm
    residual = np.abs(values - (intercept[:, None] + slope[:, None] * j)).max(axis=1)
    return slope, intercept, residual


def crop_geometry(out):
    """Each crop of `coordinate_images` as found in the output: width and height as fractions of
    the
    image's, centre in pixels, and how far the output is from a box resampled bilinearly (in
    pixels).
    """
    out = np.asarray(out, dtype=np.float64)
    _, height, width, _ = out.shape
    x_profile = out[..., 0].mean(axis=1)  # [B, W]
    y_profile = out[..., 1].mean(axis=2)  # [B, H]
    x_slope, x_start, x_residual = _line_fit(x_profile)
    y_slope, y_start, y_residual = _line_fit(y_profile)
    # In pixels: channel 0 is x / (W - 1), so a slope s means s * (W - 1) pixels per output column,
    # and W output columns span s * (W - 1) * W pixels: a fraction s * (W - 1) of the width.
    x_scale, y_scale = width - 1, height - 1
    x_edges = np.maximum(
        np.abs(x_profile[:, 0] - x_start),
        np.abs(x_profile[:, -1] - (x_start + x_slope * (width - 1))),
    )
    y_edges = np.maximum(
        np.abs(y_profile[:, 0] - y_start),
        np.abs(y_profile[:, -1] - (y_start + y_slope * (height - 1))),
    )
    across = np.maximum(
        np.abs(out[..., 0] - x_profile[:, None, :]).max(axis=(1, 2)) * x_scale,
        np.abs(out[..., 1] - y_profile[:, :, None]).max(axis=(1, 2)) * y_scale,
    )
    return {
        "width": x_slope * x_scale,
        "height": y_slope * y_scale,
        "cx": (x_start + x_slope * (width - 1) / 2) * x_scale,
        "cy": (y_start + y_slope * (height - 1) / 2) * y_scale,
        "residual": np.maximum(x_residual * x_scale, y_residual * y_scale),
        "edges": np.maximum(x_edges * x_scale, y_edges * y_scale),
        "across": across,
        "size": (height, width),
    }


def check_boxes(geometry, scale, ratio, what):
    height, width = geometry["size"]
    for i in range(len(geometry["width"])):
        w, h = geometry["width"][i], geometry["height"][i]
        if (
            geometry["residual"][i] > 0.05
            or geometry["across"][i] > 0.05
            or geometry["edges"][i] > 0.75
        ):
            raise AssertionError(
                f"{what}: crop {i} is not a box of the image resized bilinearly to H x W (a test"
                " image whose pixels hold their coordinates did not come back as linear ramps"
                + (
                    ", its first or last row or column is off, as when a box reaches outside the"
                    " image and gets padded"
                    if geometry["edges"][i] > 0.75
                    else ""
                )
                + "): crop a box inside the image and resize it with bilinear interpolation"
            )
        if min(w, h) <= 0:
            raise AssertionError(
                f"{what}: crop {i} is not an upright box of the image resized to its size (the"
                " coordinate ramps run the wrong way: is it flipped or transposed?)"
            )
        tw, th = CROP_SLACK / width, CROP_SLACK / height
        area_low, area_high = max(w - tw, 0) * max(h - th, 0), (w + tw) * (h + th)
        aspect = w * width / (h * height)
        aspect_low, aspect_high = (
            (w - tw) * width / ((h + th) * height),
            (w + tw) * width / (max(h - th, 1e-9) * height),
        )
        assert area_high >= scale[0] and area_low <= scale[1], (
            f"{what}: crop {i} covers {w * h:.3f} of the image's area ({w * width:.1f} x"
            f" {h * height:.1f} pixels of {width} x {height}), outside scale = {tuple(scale)}:"
            " draw the area as a fraction of the image's area, uniform in scale"
        )
        assert aspect_high >= ratio[0] and aspect_low <= ratio[1], (
            f"{what}: crop {i} has aspect ratio (width / height) {aspect:.3f}, outside ratio ="
            f" ({ratio[0]:.3f}, {ratio[1]:.3f}): draw the aspect ratio in ratio (log-uniformly)"
            " and redraw boxes that do not fit in the image rather than clipping them"
        )


def default_crops(lab):
    return lab.random_resized_crop(coordinate_images(CROP_BATCH, CROP_SIDE, CROP_SIDE), 7)


@pytest.mark.grade("random_resized_crop", points=1)
def test_crop_shape_and_range(lab):
    """float32 images of the input's shape, values in [0, 1], square or not"""
    images = rng.random((3, 24, 40, 3), dtype=np.float32)
    check_images(lab.random_resized_crop(images, 1), images.shape, "random_resized_crop")
    check_images(
        lab.random_resized_crop(AsTensor(images), AsTensor(np.array([3, 4]), "int64")),
        images.shape,
        "random_resized_crop (tensor images and a shape-[2] seed tensor)",
    )


@pytest.mark.grade("random_resized_crop", points=3)
def test_crop_area_and_aspect(lab):
    """each crop is a box resized bilinearly, its area in scale and its aspect ratio in ratio"""
    out = check_images(
        default_crops(lab), (CROP_BATCH, CROP_SIDE, CROP_SIDE, 3), "random_resized_crop"
    )
    check_boxes(crop_geometry(out), (0.2, 1.0), (3 / 4, 4 / 3), "with the default scale and ratio")


@pytest.mark.grade("random_resized_crop", points=1)
def test_crop_honours_scale_and_ratio(lab):
    """the scale and ratio arguments are honoured: scale=(0.25, 0.35), ratio=(1.5, 2)"""
    scale, ratio = (0.25, 0.35), (1.5, 2.0)
    images = coordinate_images(CROP_BATCH, CROP_SIDE, CROP_SIDE)
    out = check_images(
        lab.random_resized_crop(images, 8, scale=scale, ratio=ratio),
        images.shape,
        "random_resized_crop",
    )
    check_boxes(crop_geometry(out), scale, ratio, f"with scale={scale} and ratio={ratio}")


@pytest.mark.grade("random_resized_crop", points=1)
def test_crop_nearly_whole_image(lab):
    """with scale=(0.99, 1) the crop is (nearly) the whole image, upright, on a 48 x 64 image"""
    images = coordinate_images(4, 48, 64)
    out = check_images(
        lab.random_resized_crop(images, 9, scale=(0.99, 1.0)), images.shape, "random_resized_crop"
    )
    error_x = np.abs(out[..., 0] - images[..., 0]).max() * 63
    error_y = np.abs(out[..., 1] - images[..., 1]).max() * 47
    assert max(error_x, error_y) <= 1.5, (
        "with scale=(0.99, 1.0) the crop should be nearly the whole image, but pixels moved by up"
        f" to {max(error_x, error_y):.1f} pixels (in {'x' if error_x >= error_y else 'y'}) on a 48"
        " x 64 image: check the box's size (a fraction of the image's area, with the image's own"
        " height and width), draw a box that does not fit again rather than clipping it, and"
        " resize the crop back to H x W without flipping or transposing it"
    )


@pytest.mark.grade("random_resized_crop", points=1)
def test_crop_per_image(lab):
    """each image of the batch gets its own box"""
    out = default_crops(lab)
    count = distinct(out)
    assert count >= CROP_BATCH // 2, (
        f"64 copies of one image came back as only {count} different crops: draw the box of each"
        " image independently (one area, ratio and position per image), not one box for the whole"
        " batch"
    )


@pytest.mark.grade("random_resized_crop", points=1)
def test_crop_random_position(lab):
    """each box lies at a random position in the image, not always in the centre"""
    geometry = crop_geometry(default_crops(lab))
    middle = (CROP_SIDE - 1) / 2
    off = np.maximum(np.abs(geometry["cx"] - middle), np.abs(geometry["cy"] - middle)) > 2.0
    assert off.mean() >= 0.25, (
        f"only {int(off.sum())} of {CROP_BATCH} crops lie more than 2 pixels away from the image's"
        " centre: place each box at a uniformly random position where it fits (top in [0, 1 -"
        " height], left in [0, 1 - width])"
    )


@pytest.mark.grade("random_resized_crop", points=1)
def test_crop_seeded(lab):
    """the same seed gives the same crops, another seed other crops"""
    images = coordinate_images(8, 32, 32)
    first, again = lab.random_resized_crop(images, 11), lab.random_resized_crop(images, 11)
    other = lab.random_resized_crop(images, 12)
    pair = lab.random_resized_crop(images, np.array([5, 6]))
    pair_again = lab.random_resized_crop(images, np.array([5, 6]))
    assert np.array_equal(first, again) and np.array_equal(pair, pair_again), (
        "two calls with the same seed gave different crops: draw only with stateless random ops on"
        " the given seed"
    )
    assert not np.array_equal(first, other), (
        "seeds 11 and 12 gave the same crops: the seed should choose the boxes"
    )


# -- color_jitter
# ----------------------------------------------------------------------------------

JITTER_COPIES = 64
JITTER_STRENGTH = 0.25
JITTER_COLOR = (0.6, 0.5, 0.4)


def jitter_probes():
    """Three groups of copies, 8 x 8: flat grey 0.5, grey two-tone 0.45 | 0.55, flat colour."""
    grey = np.full((8, 8, 3), 0.5, np.float32)
    two_tone = np.full((8, 8, 3), 0.45, np.float32)
    two_tone[:, 4:] = 0.55
    color = np.broadcast_to(np.array(JITTER_COLOR, np.float32), (8, 8, 3))
    return np.concatenate(
        [np.repeat(image[None], JITTER_COPIES, axis=0) for image in (grey, two_tone, color)]
    )


def jittered_probes(lab):
    images = jitter_probes()
    return check_images(
        lab.color_jitter(images, 21, strength=JITTER_STRENGTH), images.shape, "color_jitter"
    )


@pytest.mark.grade("color_jitter", points=1)
def test_jitter_shape_and_range(lab):
    """float32 images of the input's shape, values clipped to [0, 1], at strengths 0.5 and 1"""
    images = rng.random((16, 8, 8, 3), dtype=np.float32)
    for strength in (0.5, 1.0):
        for seed in (1, 2):
            check_images(
                lab.color_jitter(images, seed, strength=strength),
                images.shape,
                f"color_jitter with strength {strength}",
            )
    check_images(
        lab.color_jitter(AsTensor(images), AsTensor(np.array([3, 4]), "int64")),
        images.shape,
        "color_jitter (tensor images and a shape-[2] seed tensor, default strength)",
    )


@pytest.mark.grade("color_jitter", points=1)
def test_jitter_strength_zero_is_identity(lab):
    """strength=0 gives back the images unchanged"""
    images = rng.random((16, 8, 8, 3), dtype=np.float32)
    out = np.asarray(lab.color_jitter(images, 5, strength=0.0))
    assert out.shape == images.shape, (
        f"color_jitter should keep the shape {images.shape}, got {out.shape}"
    )
    worst = float(np.abs(out.astype(np.float64) - images).max())
    assert worst <= 1e-5, (
        "with strength=0 every factor is 1 and the hue shift 0, so the images should come back"
        f" unchanged; they changed by up to {worst:.3g}: scale every range by strength (and skip"
        " the HSV round trip when the shift is 0)"
    )


@pytest.mark.grade("color_jitter", points=1)
def test_jitter_per_image(lab):
    """each image of the batch draws its own factors"""
    out = jittered_probes(lab)
    count = distinct(out[:JITTER_COPIES], atol=1e-5)
    assert count >= JITTER_COPIES // 2, (
        f"{JITTER_COPIES} copies of one grey image came back as only {count} different images:"
        " draw the factors for each image (shape [B]), not one for the whole batch"
        " (tf.image.adjust_* and stateless_random_brightness use one factor for the batch)"
    )


@pytest.mark.grade("color_jitter", points=1)
def test_jitter_seeded(lab):
    """the same seed gives the same images, another seed other images"""
    images = rng.random((8, 8, 8, 3), dtype=np.float32)
    first, again, other = (lab.color_jitter(images, seed) for seed in (31, 31, 32))
    assert np.array_equal(first, again), (
        "two calls with the same seed gave different images: draw only with stateless random ops"
        " on the seed"
    )
    assert not np.array_equal(first, other), (
        "seeds 31 and 32 gave the same images: the seed should choose the factors"
    )


@pytest.mark.grade("color_jitter", points=1)
def test_jitter_brightness_and_contrast(lab):
    """brightness and contrast change by at most what 0.8 * strength allows, and they vary"""
    out = np.asarray(jittered_probes(lab), dtype=np.float64)
    s = JITTER_STRENGTH
    grey = out[:JITTER_COPIES]
    assert np.abs(grey - grey[:, :1, :1, :1]).max() <= 1e-4, (
        "a flat grey image should stay flat and grey (contrast, saturation and hue cannot change"
        " it, brightness keeps it flat): draw one brightness factor per image, the same for its"
        " three channels and every pixel"
    )
    level = grey[:, 0, 0, 0]
    change = np.abs(level - 0.5)
    # Multiplicative brightness (x * f) moves 0.5 by at most 0.5 * 0.8 s; SimCLR v1's additive
    # brightness (x + delta) by at most 0.8 s: both are correct.
    assert change.max() <= 0.8 * s + 1e-3, (
        f"with strength {s}, a grey 0.5 image became {level[change.argmax()]:.3f}: brightness"
        f" should change it by a factor in [1 - 0.8 s, 1 + 0.8 s] = [{1 - 0.8 * s:g},"
        f" {1 + 0.8 * s:g}] (at most 0.8 s = {0.8 * s:g} either way)"
    )
    assert level.max() - level.min() >= 0.05, (
        f"{JITTER_COPIES} copies of a grey 0.5 image all kept about the same brightness"
        f" ({level.min():.3f} to {level.max():.3f}): draw a brightness factor in [1 - 0.8 s, 1 +"
        " 0.8 s] for each image"
    )
    two_tone = out[JITTER_COPIES : 2 * JITTER_COPIES]
    gap = (two_tone[:, :, 4:].mean(axis=(1, 2, 3)) - two_tone[:, :, :4].mean(axis=(1, 2, 3))) / 0.1
    low, high = (1 - 0.8 * s) ** 2 - 0.01, (1 + 0.8 * s) ** 2 + 0.01
    assert gap.min() >= low and gap.max() <= high, (
        f"with strength {s}, the contrast of a two-tone grey image changed by a factor of"
        f" {gap[np.argmax(np.abs(gap - 1))]:.3f}; brightness and contrast factors in"
        f" [{1 - 0.8 * s:g}, {1 + 0.8 * s:g}] allow [{low + 0.01:.3f}, {high - 0.01:.3f}]:"
        " contrast is mean + f * (x - mean) with f in [1 - 0.8 s, 1 + 0.8 s]"
    )


def hue_of(color):
    return colorsys.rgb_to_hsv(*[float(c) for c in color])[0]


@pytest.mark.grade("color_jitter", points=1)
def test_jitter_hue(lab):
    """the hue shifts by at most 0.2 * strength of the colour wheel, and it varies"""
    out = np.asarray(jittered_probes(lab), dtype=np.float64)
    s = JITTER_STRENGTH
    colors = out[2 * JITTER_COPIES :].mean(axis=(1, 2))
    original = hue_of(JITTER_COLOR)
    shift = np.array([(hue_of(color) - original + 0.5) % 1.0 - 0.5 for color in colors])
    assert np.abs(shift).max() <= 0.2 * s + 3e-3, (
        f"with strength {s}, the hue of a colour moved by {shift[np.abs(shift).argmax()]:+.3f} of"
        f" the colour wheel: the hue shift should be uniform in [-0.2 s, 0.2 s] = [-{0.2 * s:g},"
        f" {0.2 * s:g}] (in turns of the wheel, as tf.image.adjust_hue takes it); brightness,"
        " contrast and saturation do not move the hue"
    )
    assert np.abs(shift).max() >= 0.2 * s / 2, (
        f"over {JITTER_COPIES} copies of a colour the hue moved by at most"
        f" {np.abs(shift).max():.4f}: draw a hue shift in [-0.2 s, 0.2 s] for each image and"
        " apply it"
    )


# -- random_grayscale
# ------------------------------------------------------------------------------

LUMA = np.array([0.299, 0.587, 0.114])
GRAY_BATCH = 2000
GRAY_IMAGES = rng.random((GRAY_BATCH, 2, 2, 3), dtype=np.float32)


def classify_gray(out, images):
    """Per image: 'same' (unchanged), 'gray' (its luma on three channels) or 'other'."""
    out, images = np.asarray(out, dtype=np.float64), np.asarray(images, dtype=np.float64)
    luma = (images * LUMA).sum(axis=-1, keepdims=True)
    same = np.abs(out - images).max(axis=(1, 2, 3)) <= 1e-6
    gray = np.abs(out - luma).max(axis=(1, 2, 3)) <= 1e-3
    equal = (out.max(axis=-1) - out.min(axis=-1)).max(axis=(1, 2)) <= 1e-6
    return np.where(same, "same", np.where(gray & equal, "gray", "other"))


def gray_fraction(lab, p, seed):
    out = check_images(
        lab.random_grayscale(GRAY_IMAGES, seed, p=p), GRAY_IMAGES.shape, "random_grayscale"
    )
    kinds = classify_gray(out, GRAY_IMAGES)
    if (kinds == "other").any():
        i = int(np.argmax(kinds == "other"))
        channels = out[i].max(axis=-1) - out[i].min(axis=-1)
        raise AssertionError(
            f"with p = {p}, image {i} is neither unchanged nor its luma 0.299 R + 0.587 G + 0.114"
            " B on all three channels"
            + (
                " (its channels are equal, but not to the luma: weigh R, G, B by 0.299, 0.587,"
                " 0.114)"
                if channels.max() <= 1e-6
                else ""
            )
        )
    return float((kinds == "gray").mean())


@pytest.mark.grade("random_grayscale", points=2)
def test_grayscale_p1_luma(lab):
    """p=1: every image becomes its luma 0.299 R + 0.587 G + 0.114 B on three equal channels"""
    images = rng.random((8, 6, 6, 3), dtype=np.float32)
    out = check_images(lab.random_grayscale(images, 3, p=1.0), images.shape, "random_grayscale")
    channels = float((out.max(axis=-1) - out.min(axis=-1)).max())
    assert channels <= 1e-6, (
        "with p=1 every image should be gray, with three equal channels; they differ by up to"
        f" {channels:.3g}"
    )
    luma = (images.astype(np.float64) * LUMA).sum(axis=-1)
    worst = float(np.abs(out[..., 0] - luma).max())
    mean = float(np.abs(out[..., 0] - images.mean(axis=-1)).max())
    assert worst <= 1e-3, (
        f"the gray level differs from the luma 0.299 R + 0.587 G + 0.114 B by up to {worst:.3g}"
        + (
            ": it is the plain mean of the channels; weigh them by the luma weights"
            if mean <= 1e-5
            else ""
        )
    )


@pytest.mark.grade("random_grayscale", points=1)
def test_grayscale_p0_identity(lab):
    """p=0: the images come back unchanged"""
    images = rng.random((8, 6, 6, 3), dtype=np.float32)
    out = check_images(lab.random_grayscale(images, 3, p=0.0), images.shape, "random_grayscale")
    worst = float(np.abs(out.astype(np.float64) - images).max())
    assert worst <= 1e-6, (
        f"with p=0 no image should change, but they changed by up to {worst:.3g}: an image becomes"
        " gray when its coin < p"
    )


@pytest.mark.grade("random_grayscale", points=2)
def test_grayscale_probability(lab):
    """each image turns gray with its own coin of probability p (counted over 2000 images)"""
    # Binomial(2000, p) lies within 0.05 of p with probability above 1 - 1e-6 for these p.
    for p, seeds in ((0.2, (1, 2)), (0.7, (3,))):
        for seed in seeds:
            fraction = gray_fraction(lab, p, seed)
            assert abs(fraction - p) <= 0.05, (
                f"with p = {p} (seed {seed}), {fraction:.1%} of {GRAY_BATCH} images turned gray,"
                f" where about {p:.0%} should: "
                + (
                    "one coin decides for the whole batch; toss one coin per image"
                    if fraction in (0.0, 1.0)
                    else (
                        "an image should turn gray when its coin is below p (not 1 - p)"
                        if abs(fraction - (1 - p)) <= 0.05
                        else (
                            "toss one coin per image, uniform in [0, 1), and make the image gray"
                            " where it is below p"
                        )
                    )
                )
            )


@pytest.mark.grade("random_grayscale", points=1)
def test_grayscale_seeded(lab):
    """the same seed picks the same images, another seed others"""
    images = GRAY_IMAGES[:64]
    first, again, other = (
        classify_gray(lab.random_grayscale(images, seed, p=0.5), images) for seed in (41, 41, 42)
    )
    assert (first == again).all(), (
        "two calls with the same seed turned different images gray: draw the coins with stateless"
        " random ops"
    )
    assert (first != other).any(), (
        "seeds 41 and 42 turned the same images gray: the seed should choose the coins"
    )


# -- augment
# ---------------------------------------------------------------------------------------


def ramp_images(batch, side=16):
    """Grey images brighter to the right: colour jitter and grayscale keep that order."""
    ramp = np.broadcast_to(
        np.linspace(0.0, 1.0, side, dtype=np.float32)[None, :, None], (side, side, 3)
    )
    return np.repeat(ramp[None], batch, axis=0).copy()


def step_images(batch, side=16):
    """Grey images, 0.2 on the left half and 0.8 on the right: only a crop moves or blurs the
    step."""
    image = np.full((side, side, 3), 0.2, np.float32)
    image[:, side // 2 :] = 0.8
    return np.repeat(image[None], batch, axis=0)


AUGMENT_COLOR = np.array([0.7, 0.4, 0.2], np.float32)
AUGMENT_COLORS = 500


@pytest.mark.grade("augment", points=1)
def test_augment_shape_and_range(lab):
    """float32 views of the input's shape, values in [0, 1]"""
    images = rng.random((8, 16, 16, 3), dtype=np.float32)
    check_images(lab.augment(images, 1), images.shape, "augment")
    check_images(
        lab.augment(AsTensor(images), AsTensor(np.array([3, 4]), "int64")),
        images.shape,
        "augment (tensor images and a shape-[2] seed tensor)",
    )


@pytest.mark.grade("augment", points=1)
def test_augment_seeded(lab):
    """the same seed gives the same views, another seed other views"""
    images = rng.random((8, 16, 16, 3), dtype=np.float32)
    first, again, other = (lab.augment(images, seed) for seed in (51, 51, 52))
    assert np.array_equal(first, again), (
        "two calls with the same seed gave different views: draw only with stateless random ops on"
        " the seed"
    )
    assert not np.array_equal(first, other), (
        "seeds 51 and 52 gave the same views: the two views of SimCLR come from two seeds, so the"
        " seed must decide every draw"
    )


@pytest.mark.grade("augment", points=1)
def test_augment_per_image(lab):
    """each image draws its own crop, flip and colours: copies of one image give different views"""
    images = np.repeat(rng.random((1, 16, 16, 3), dtype=np.float32), 16, axis=0)
    count = distinct(lab.augment(images, 53))
    assert count >= 12, (
        f"16 copies of one image gave only {count} different views: every draw should be per image"
    )


@pytest.mark.grade("augment", points=1)
def test_augment_crops(lab):
    """each view is a random resized crop"""
    images = step_images(128)
    out = check_images(lab.augment(images, 54), images.shape, "augment")
    profile = np.asarray(out, np.float64).mean(axis=(1, 3))  # [B, W]
    left, right = profile[:, :8], profile[:, 8:]
    whole = (
        (np.ptp(left, axis=1) <= 1e-4)
        & (np.ptp(right, axis=1) <= 1e-4)
        & (np.abs(left[:, 0] - right[:, 0]) > 1e-3)
    )
    assert whole.mean() < 0.5, (
        f"{int(whole.sum())} of 128 views of an image with a sharp step in its middle still have"
        " the step exactly in the middle: augment should start with random_resized_crop"
    )


@pytest.mark.grade("augment", points=1)
def test_augment_flips(lab):
    """about half of the views are flipped left-right, each image on its own coin"""
    images = ramp_images(256)
    out = check_images(lab.augment(images, 55), images.shape, "augment")
    profile = np.asarray(out, np.float64).mean(axis=(1, 3))
    difference = profile[:, 8:].mean(axis=1) - profile[:, :8].mean(axis=1)
    known = np.abs(difference) > 1e-3
    flipped = float((difference[known] < 0).mean()) if known.any() else 0.0
    # Binomial(n >= 128, 1/2) lies in [0.3, 0.7] with probability above 1 - 1e-5.
    assert known.sum() >= 128 and 0.3 <= flipped <= 0.7, (
        f"{flipped:.0%} of the views of an image brighter to the right were flipped left-right,"
        " where about 50% should: flip each image with its own coin, p = 0.5"
    )


def color_views(lab):
    images = np.broadcast_to(AUGMENT_COLOR, (AUGMENT_COLORS, 4, 4, 3)).copy()
    return check_images(lab.augment(images, 56), images.shape, "augment")


@pytest.mark.grade("augment", points=1)
def test_augment_jitter_probability(lab):
    """colour jitter of strength 0.5 is applied to about 80% of the views"""
    out = np.asarray(color_views(lab), np.float64)
    colors = out.mean(axis=(1, 2))
    luma = float((AUGMENT_COLOR.astype(np.float64) * LUMA).sum())
    unchanged = (np.abs(colors - AUGMENT_COLOR).max(axis=1) <= 1e-4) | (
        np.abs(colors - luma).max(axis=1) <= 1e-4
    )
    # Binomial(500, 0.2) lies in [0.1, 0.3] with probability above 1 - 1e-7.
    assert 0.1 <= unchanged.mean() <= 0.3, (
        f"{unchanged.mean():.0%} of the views of a flat colour kept their colour (or became its"
        " plain luma), where about 20% should: apply color_jitter(x, seed, 0.5) with probability"
        " 0.8, one coin per image"
    )


@pytest.mark.grade("augment", points=1)
def test_augment_grayscale_probability(lab):
    """about 20% of the views are gray"""
    out = np.asarray(color_views(lab), np.float64)
    gray = (out.max(axis=-1) - out.min(axis=-1)).max(axis=(1, 2)) <= 1e-6
    assert 0.1 <= gray.mean() <= 0.3, (
        f"{gray.mean():.0%} of the views of a colourful image were gray, where about 20% should:"
        " finish with random_grayscale(x, seed, p=0.2)"
    )


# -- build_projection_head
# -------------------------------------------------------------------------


def measure_head(head, input_dim):
    """The head's size, and its outputs on random features with every bias given a value (biases
    are zero when built), together with its weights: measured by the judge on the loaded model."""
    import keras

    if not isinstance(head, keras.Model):
        kind = (
            head.get("__type__", type(head).__name__)
            if isinstance(head, dict)
            else type(head).__name__
        )
        return {"type": kind.rsplit(".", 1)[-1]}
    generator = np.random.default_rng(6)
    for weight in head.weights:
        if len(weight.shape) == 1:
            weight.assign(generator.normal(0.0, 0.5, size=weight.shape).astype("float32"))
    x = generator.normal(size=(16, input_dim)).astype("float32")
    return {
        "type": "Model",
        "sequential": isinstance(head, keras.Sequential),
        "params": int(head.count_params()),
        "x": x,
        "out": np.asarray(head(x)),
        "weights": [np.asarray(w.numpy()) for w in head.weights],
    }


def head_result(lab, *args, **kwargs):
    result = lab.probe(
        probe_head, list(args), kwargs, measure=measure_head, measure_args=(args[0],)
    )
    assert result["type"] == "Model", (
        f"build_projection_head should return a keras.Model, got {result['type']}"
    )
    assert not result["sequential"], (
        "build the head as a functional model (keras.Model(inputs, outputs)), not Sequential"
    )
    return result


@pytest.mark.grade("build_projection_head", points=1)
def test_head_shapes(lab):
    """a functional model from [B, input_dim] to [B, output_dim], defaults hidden 512 and output
    128"""
    result = head_result(lab, 20, 16, 8)
    assert result["out"].shape == (16, 8), (
        "build_projection_head(20, 16, 8) on [16, 20] features should give [16, 8] embeddings,"
        f" got {list(result['out'].shape)}"
    )
    default = head_result(lab, 24)
    assert default["out"].shape == (16, 128), (
        "build_projection_head(24) should give 128-dimensional embeddings by default, got"
        f" {list(default['out'].shape)}"
    )


@pytest.mark.grade("build_projection_head", points=1)
def test_head_parameters(lab):
    """two Dense layers with biases: input * hidden + hidden + hidden * output + output
    parameters"""
    for args in ((20, 16, 8), (24,)):
        result = head_result(lab, *args)
        input_dim, hidden, output = (list(args) + [512, 128][len(args) - 1 :])[:3]
        expected = input_dim * hidden + hidden + hidden * output + output
        assert result["params"] == expected, (
            f"build_projection_head{tuple(args)} should have Dense({hidden}) and Dense({output})"
            f" with biases: {expected:,} parameters, got {result['params']:,}"
        )


@pytest.mark.grade("build_projection_head", points=2)
def test_head_computes_dense_relu_dense(lab):
    """the head computes Dense -> ReLU -> Dense: relu(x W1 + b1) W2 + b2"""
    result = head_result(lab, 20, 16, 8)
    weights = result["weights"]
    shapes = {tuple(w.shape): w.astype(np.float64) for w in weights}
    needed = [(20, 16), (16,), (16, 8), (8,)]
    missing = [shape for shape in needed if shape not in shapes]
    assert not missing, (
        "build_projection_head(20, 16, 8) should hold a kernel [20, 16], a bias [16], a kernel"
        f" [16, 8] and a bias [8]; its weights have shapes {[list(w.shape) for w in weights]}"
    )
    x = result["x"].astype(np.float64)
    hidden = x @ shapes[(20, 16)] + shapes[(16,)]
    expected = np.maximum(hidden, 0.0) @ shapes[(16, 8)] + shapes[(8,)]
    out = result["out"].astype(np.float64)
    worst = float(np.abs(out - expected).max())
    if worst > 1e-4:
        linear = hidden @ shapes[(16, 8)] + shapes[(8,)]
        relu_out = np.maximum(expected, 0.0)
        hint = (
            " It is linear: put a ReLU between the two Dense layers."
            if np.abs(out - linear).max() <= 1e-4
            else (
                " Its outputs went through a ReLU: the last Dense layer has no activation."
                if np.abs(out - relu_out).max() <= 1e-4
                else ""
            )
        )
        raise AssertionError(
            f"the head's outputs differ from relu(x W1 + b1) W2 + b2 by up to {worst:.3g}.{hint}"
        )


# -- nt_xent_loss
# ----------------------------------------------------------------------------------


MISTAKES = {
    "unnormalised": (
        "it matches a loss on raw dot products: divide each embedding by its length first (cosine"
        " similarity)"
    ),
    "no temperature": (
        "it matches the loss without the temperature: divide the similarities by the temperature"
    ),
    "self included": (
        "it matches a loss whose softmax also counts each anchor's similarity with itself:"
        " exclude it"
    ),
    "wrong partner": (
        "it matches a loss where each anchor's positive is the next row: the partner of z1[i] is"
        " z2[i]"
    ),
    "one direction": (
        "it matches the loss of the z1 anchors alone: average over all 2B anchors, z2's too"
    ),
    "sum": "it matches the sum over the anchors: take the mean over the 2B anchors",
    "mean over pairs": (
        "it matches the sum over the 2B anchors divided by B: take the mean over the 2B anchors"
    ),
}


# (batch, dim, seed of the embeddings, temperature): the cases whose NT-Xent is shipped as data.
LOSS_CASES = (
    (2, 8, 1, 0.5),
    (4, 16, 2, 0.5),
    (16, 32, 3, 0.5),
    (8, 16, 4, 0.1),
    (8, 16, 4, 1.0),
    (8, 16, 4, 2.0),
    (1, 8, 5, 0.5),
    (6, 8, 6, 0.5),
    (6, 8, 7, 0.5),
)
GRADIENT_CASE = (4, 5, 11, 0.5)


def expected_loss(case: tuple, mistake: str | None = None) -> float:
    """NT-Xent of a case of LOSS_CASES, or the value that one of the MISTAKES gives."""
    # "nt_xent" [cases, 1 + mistakes]: the true value, then each mistake's, in MISTAKES' order.
    row = EXPECTED["nt_xent"][LOSS_CASES.index(case)]
    return float(row[0 if mistake is None else 1 + list(MISTAKES).index(mistake)])


def explain(case, got):
    for mistake, hint in MISTAKES.items():
        value = expected_loss(case, mistake)
        if np.isfinite(got) and abs(got - value) <= 1e-4 * max(1.0, abs(value)):
            return "; " + hint
    return ""


def embeddings(batch, dim, seed):
    generator = np.random.default_rng(seed)
    return generator.normal(size=(batch, dim)).astype(np.float32), generator.normal(
        size=(batch, dim)
    ).astype(np.float32)


def loss_value(lab, z1, z2, *args, **kwargs):
    out = np.asarray(lab.nt_xent_loss(z1, z2, *args, **kwargs))
    assert out.shape == (), (
        f"nt_xent_loss should return a scalar, got an array of shape {out.shape}"
    )
    assert out.dtype == np.float32, f"nt_xent_loss should return a float32 scalar, got {out.dtype}"
    assert np.isfinite(out), f"nt_xent_loss returned {float(out)}"
    return float(out)


def check_loss(lab, case, what, pass_temperature=True):
    batch, dim, seed, temperature = case
    z1, z2 = embeddings(batch, dim, seed)
    got = loss_value(lab, z1, z2, temperature) if pass_temperature else loss_value(lab, z1, z2)
    expected = expected_loss(case)
    assert abs(got - expected) <= 1e-4 * max(1.0, abs(expected)), (
        f"{what}: expected NT-Xent {expected:.5f}, got {got:.5f}" + explain(case, got)
    )


@pytest.mark.grade("nt_xent_loss", points=3)
def test_loss_matches_reference(lab):
    """a float32 scalar equal to NT-Xent on random embeddings (B = 2, 4, 16; default temperature
    0.5)"""
    for case in LOSS_CASES[:3]:
        check_loss(
            lab,
            case,
            f"on random embeddings [{case[0]}, {case[1]}] with the default temperature",
            pass_temperature=False,
        )


@pytest.mark.grade("nt_xent_loss", points=1)
def test_loss_temperature(lab):
    """the temperature divides the cosine similarities: T = 0.1, 1 and 2"""
    for case in LOSS_CASES[3:6]:
        check_loss(lab, case, f"on random embeddings [8, 16] with temperature {case[3]}")


@pytest.mark.grade("nt_xent_loss", points=1)
def test_loss_one_pair(lab):
    """one pair (B = 1): each anchor's only candidate is its partner, so the loss is 0"""
    case = LOSS_CASES[6]
    got = loss_value(lab, *embeddings(*case[:3]))
    assert abs(got) <= 1e-5, (
        "with a single pair, each of the 2 anchors has only its partner left once it excludes"
        f" itself, so the loss is -log(1) = 0; got {got:.5f}" + explain(case, got)
    )


@pytest.mark.grade("nt_xent_loss", points=1)
def test_loss_symmetric(lab):
    """swapping the two views leaves the loss unchanged"""
    case = LOSS_CASES[7]
    z1, z2 = embeddings(*case[:3])
    forward, backward = loss_value(lab, z1, z2), loss_value(lab, z2, z1)
    assert abs(forward - backward) <= 1e-5 * max(1.0, abs(forward)), (
        f"nt_xent_loss(z1, z2) = {forward:.5f} but nt_xent_loss(z2, z1) = {backward:.5f}: every"
        " one of the 2B embeddings is an anchor, those of z1 and those of z2"
        + explain(case, forward)
    )


@pytest.mark.grade("nt_xent_loss", points=1)
def test_loss_scale_invariant(lab):
    """the loss depends on the embeddings' directions only, not their lengths"""
    case = LOSS_CASES[8]
    z1, z2 = embeddings(*case[:3])
    base = loss_value(lab, z1, z2)
    rows = (10.0 ** np.random.default_rng(8).uniform(-3, 3, size=(6, 1))).astype(np.float32)
    for scaled, what in (
        (1e-3 * z1, "z1 * 1e-3"),
        (1e3 * z1, "z1 * 1e3"),
        (rows * z1, "each row of z1 scaled by 1e-3 to 1e3"),
    ):
        got = loss_value(lab, scaled.astype(np.float32), z2)
        assert abs(got - base) <= 1e-4 * max(1.0, abs(base)), (
            f"the loss of {what} is {got:.5f}, but {base:.5f} for z1: the similarity is the"
            " cosine, so normalise each embedding to length 1 before the dot products"
            + explain(case, base)
        )


@pytest.mark.grade("nt_xent_loss", points=2)
def test_loss_gradient(lab):
    """its gradient with respect to z1 and z2 (tf.GradientTape) is the true gradient of NT-Xent"""
    batch, dim, seed, temperature = GRADIENT_CASE
    z1, z2 = embeddings(batch, dim, seed)
    result = lab.probe(probe_loss_gradient, z1, z2, temperature)
    assert result["tensor"], (
        f"nt_xent_loss returned a {result['type']}, not a tf.Tensor: compute it with TensorFlow"
        " ops so that gradients flow"
    )
    # "nt_xent_gradient" [2, batch, dim]: the gradient of NT-Xent with respect to z1 and z2.
    expected = EXPECTED["nt_xent_gradient"]
    for name, got, want in zip(("z1", "z2"), result["gradients"], expected, strict=False):
        assert got is not None, (
            f"the loss has no gradient with respect to {name}: compute it with TensorFlow ops from"
            " the embeddings (no NumPy, no .numpy(), no tf.stop_gradient on them)"
        )
        assert got.shape == want.shape and np.isfinite(got).all(), (
            f"the gradient with respect to {name} has NaNs or the wrong shape"
        )
        worst = float(np.abs(got - want).max())
        assert worst <= 1e-4 + 1e-3 * np.abs(want).max(), (
            f"the gradient with respect to {name} differs from the true gradient of NT-Xent by up"
            f" to {worst:.3g} (its entries are up to {np.abs(want).max():.3g}): let the gradient"
            " flow through every step, the normalisation included (no tf.stop_gradient, no NumPy)"
        )


# -- contrastive_step
# ------------------------------------------------------------------------------

STEP_IMAGES = rng.random((8, 16, 16, 3), dtype=np.float32)
STEP_RATE = 0.05  # Adam: the first step moves every weight with a gradient by about this much


def step_result(lab, learning_rate, seed, temperature=None):
    """What one step did; "encoder_moved" and "head_moved" hold how far each trainable weight
    moved."""
    result = lab.probe(probe_step, STEP_IMAGES, learning_rate, seed, temperature, timeout=60)
    for index, part in enumerate(("encoder", "head")):
        result[f"{part}_moved"] = [
            float(np.abs(np.asarray(after, np.float64) - before).max())
            for after, before in zip(
                result["weights_after"][index], result["weights_before"][index], strict=False
            )
        ]
    return result


def step_loss(result):
    loss = result["loss"]
    assert np.ndim(loss) == 0 and np.issubdtype(np.asarray(loss).dtype, np.floating), (
        f"contrastive_step should return the loss, a float scalar, got {type(loss).__name__}"
        + (f" of shape {np.shape(loss)}" if np.ndim(loss) else "")
    )
    assert np.isfinite(loss), f"contrastive_step returned the loss {float(loss)}"
    return float(loss)


def two_views(recorded):
    """The two views' embeddings, from the step's calls of augment: two calls on the B images, or
    one
    on the 2B images (both views at once). None when the views cannot be told."""
    b = len(STEP_IMAGES)
    sizes = [len(v) for v in recorded["views"]]
    if sizes == [b, b]:
        return recorded
    if sizes == [2 * b]:
        return {key: [value[0][:b], value[0][b:]] for key, value in recorded.items()}
    return None


def close_losses(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-4 * max(1.0, abs(b))


@pytest.mark.grade("contrastive_step", points=1)
def test_step_views_and_loss_before_update(lab):
    """two different views; the loss returned is the one before the update, at the temperature
    given"""
    result = step_result(lab, STEP_RATE, 61, 0.2)
    got, recorded = step_loss(result), result["recorded"]
    if recorded is not None:  # the views were made by eager calls of augment
        assert [len(v) for v in recorded["views"]] != [len(STEP_IMAGES)], (
            "contrastive_step made one view of the images (augment was called once, on B"
            " images): make two views, augment(images, seed_1) and augment(images, seed_2) with"
            " two seeds split from the seed"
        )
        views = two_views(recorded)
        assert views is None or not np.array_equal(views["views"][0], views["views"][1]), (
            "the two views of the images are identical: make them with two different seeds"
            " (split the step's seed in two)"
        )
    still = step_loss(step_result(lab, 0.0, 61, 0.2))
    assert close_losses(got, still), (
        f"with a learning rate of {STEP_RATE} the step returned {got:.5f}, with a learning rate"
        f" of 0 (same weights, same seed) {still:.5f}: return the loss computed before applying"
        " the gradients"
    )
    default = step_loss(step_result(lab, 0.0, 61))
    assert not close_losses(got, default), (
        f"the step returned the same loss, {got:.5f}, at temperature 0.2 as at 0.5: pass the"
        " temperature on to nt_xent_loss"
    )


@pytest.mark.grade("contrastive_step", points=1)
def test_step_updates_encoder(lab):
    """one step updates every weight of the encoder"""
    result = step_result(lab, STEP_RATE, 61)
    still = [i for i, change in enumerate(result["encoder_moved"]) if change == 0]
    assert not still, (
        f"after one step, {len(still)} of the encoder's {len(result['encoder_moved'])} trainable"
        " weights did not change: compute the embeddings inside the tf.GradientTape from"
        " encoder(views, training=True), and apply the gradients of encoder.trainable_variables +"
        " head.trainable_variables"
    )


@pytest.mark.grade("contrastive_step", points=1)
def test_step_updates_head(lab):
    """one step updates every weight of the projection head"""
    result = step_result(lab, STEP_RATE, 61)
    still = [i for i, change in enumerate(result["head_moved"]) if change == 0]
    assert not still, (
        f"after one step, {len(still)} of the head's {len(result['head_moved'])} trainable weights"
        " did not change: apply the gradients of encoder.trainable_variables +"
        " head.trainable_variables"
    )


@pytest.mark.grade("contrastive_step", points=1)
def test_step_seeded(lab):
    """from the same weights, the same seed gives the same loss and another seed another"""
    first = step_loss(step_result(lab, STEP_RATE, 61))
    again = step_loss(step_result(lab, STEP_RATE, 61))
    other = step_loss(step_result(lab, STEP_RATE, 62))
    assert abs(first - again) <= 1e-6 * max(1.0, abs(first)), (
        f"from the same weights and seed, two steps returned {first:.6f} and {again:.6f}: make the"
        " views with the step's seed (split in two), so that a step is reproducible"
    )
    assert first != other, "seeds 61 and 62 gave the same loss: the seed should choose the views"
