"""Autograder for lab 4, the hidden checks: they run only when the staff grade.

They compare with an independent NumPy NT-Xent (`nt_xent_reference`): the loss on extreme inputs
no student has seen, and the training step's loss on the two views it made. `expected_values()`
computes from that reference the data that the public checks (`test_lab4_simclr.py`, whose
helpers these checks share) compare with.
"""

import numpy as np
import pytest
from test_lab4_simclr import (
    GRADIENT_CASE,
    LOSS_CASES,
    MISTAKES,
    STEP_IMAGES,
    STEP_RATE,
    embeddings,
    loss_value,
    step_loss,
    step_result,
    two_views,
)

LAB = "lab4"


def nt_xent_reference(z1, z2, temperature=0.5, variant=None):
    """NT-Xent in float64 NumPy, written independently of the lab. `variant` names a common
    mistake,
    so that a wrong value can be explained to the student."""
    z = np.concatenate([z1, z2]).astype(np.float64)
    n = len(z)
    pairs = n // 2
    if variant != "unnormalised":
        z = z / np.linalg.norm(z, axis=1, keepdims=True)
    logits = z @ z.T / (1.0 if variant == "no temperature" else temperature)
    if variant != "self included":
        np.fill_diagonal(logits, -np.inf)
    partners = (np.arange(n) + pairs) % n
    if variant == "wrong partner":
        partners = (np.arange(n) + 1) % n
    top = logits.max(axis=1, keepdims=True)
    logsumexp = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    losses = logsumexp - logits[np.arange(n), partners]
    if variant == "one direction":
        return float(losses[:pairs].mean())
    if variant == "sum":
        return float(losses.sum())
    if variant == "mean over pairs":
        return float(losses.sum() / pairs)
    return float(losses.mean())


def numerical_gradient(z1, z2, temperature, h=1e-6):
    z1, z2 = z1.astype(np.float64), z2.astype(np.float64)
    gradients = []
    for which in (0, 1):
        gradient = np.zeros_like(z1)
        for index in np.ndindex(z1.shape):
            plus, minus = [z1.copy(), z2.copy()], [z1.copy(), z2.copy()]
            plus[which][index] += h
            minus[which][index] -= h
            gradient[index] = (
                nt_xent_reference(*plus, temperature) - nt_xent_reference(*minus, temperature)
            ) / (2 * h)
        gradients.append(gradient)
    return gradients


def expected_values() -> dict[str, np.ndarray]:
    """The data of the public checks: NT-Xent of each of LOSS_CASES, then the value each of the
    MISTAKES gives, [cases, 1 + mistakes]; the gradient at GRADIENT_CASE, [2, batch, dim]."""
    losses = [
        [
            nt_xent_reference(*embeddings(batch, dim, seed), temperature, mistake)
            for mistake in (None, *MISTAKES)
        ]
        for batch, dim, seed, temperature in LOSS_CASES
    ]
    batch, dim, seed, temperature = GRADIENT_CASE
    gradient = numerical_gradient(*embeddings(batch, dim, seed), temperature)
    return {"nt_xent": np.array(losses), "nt_xent_gradient": np.array(gradient)}


# -- nt_xent_loss
# ----------------------------------------------------------------------------------


def check_against_reference(lab, z1, z2, temperature, what):
    got = loss_value(lab, z1, z2, temperature)
    expected = nt_xent_reference(z1, z2, temperature)
    hints = [
        "; " + hint
        for mistake, hint in MISTAKES.items()
        if abs(got - nt_xent_reference(z1, z2, temperature, mistake))
        <= 1e-4 * max(1.0, abs(expected))
    ]
    assert abs(got - expected) <= 1e-4 * max(1.0, abs(expected)), (
        f"{what}: expected NT-Xent {expected:.5f}, got {got:.5f}" + "".join(hints[:1])
    )


@pytest.mark.grade("nt_xent_loss", points=1)
def test_loss_extreme_inputs(lab):
    """finite and right for lengths from 1e-4 to 1e4, identical embeddings, and temperature 0.05"""
    generator = np.random.default_rng(9)
    z1, z2 = embeddings(8, 8, 10)
    lengths = lambda: (10.0 ** generator.uniform(-4, 4, size=(8, 1))).astype(np.float32)  # noqa: E731
    cases = [
        (
            (z1 * lengths()).astype(np.float32),
            (z2 * lengths()).astype(np.float32),
            0.5,
            "embeddings of lengths 1e-4 to 1e4",
        ),
        (
            np.ones((8, 8), np.float32),
            np.ones((8, 8), np.float32),
            0.5,
            "identical embeddings for every image",
        ),
        (z1, z2, 0.05, "temperature 0.05"),
        (z1, z1.copy(), 0.05, "z2 equal to z1 and temperature 0.05"),
    ]
    for a, b, temperature, what in cases:
        check_against_reference(lab, a, b, temperature, f"with {what}")


# -- contrastive_step
# ------------------------------------------------------------------------------


def check_step_loss(lab, temperature):
    shown = 0.5 if temperature is None else temperature
    result = step_result(lab, STEP_RATE, 61, temperature)
    got = step_loss(result)
    recorded = result["recorded"]
    b = len(STEP_IMAGES)
    if recorded is None or two_views(recorded) is None:
        if recorded is not None and [len(v) for v in recorded["views"]] == [b]:
            raise AssertionError(
                "contrastive_step made one view of the images (augment was called once, on B"
                " images): make two views, augment(images, seed_1) and augment(images, seed_2)"
                " with two seeds split from the seed"
            )
        # The views are made some other way (not by eager calls of augment): the loss must still be
        # the
        # one before the update, and depend on the temperature.
        still = step_loss(step_result(lab, 0.0, 61, temperature))
        assert abs(got - still) <= 1e-4 * max(1.0, abs(still)), (
            f"with a learning rate of {STEP_RATE} the step returned {got:.5f}, with a learning"
            f" rate of 0 (same weights, same seed) {still:.5f}: return the loss computed before"
            " applying the gradients"
        )
        if temperature is not None:
            default = step_loss(step_result(lab, 0.0, 61))
            assert abs(got - default) > 1e-4 * max(1.0, abs(default)), (
                f"the step returned the same loss, {got:.5f}, at temperature {temperature} as at"
                " 0.5: pass the temperature on to nt_xent_loss"
            )
        return
    views = two_views(recorded)
    assert not np.array_equal(views["views"][0], views["views"][1]), (
        "the two views of the images are identical: make them with two different seeds (split the"
        " step's seed in two)"
    )
    z1, z2 = views["before"]
    expected = nt_xent_reference(z1, z2, shown)
    close = lambda value: abs(got - value) <= 1e-4 * max(1.0, abs(value))  # noqa: E731
    if not close(expected):
        hint = ""
        if close(nt_xent_reference(*views["after"], shown)):
            hint = (
                ": that is the loss after the update; return the loss computed before applying the"
                " gradients"
            )
        elif temperature is not None and close(nt_xent_reference(z1, z2, 0.5)):
            hint = (
                f": that is the loss at temperature 0.5; pass temperature={temperature} on to"
                " nt_xent_loss"
            )
        raise AssertionError(
            f"contrastive_step returned {got:.5f}, but NT-Xent (temperature {shown}) of the two"
            " views it made, encoded and projected with the weights before the update, is"
            f" {expected:.5f}{hint}"
        )


@pytest.mark.grade("contrastive_step", points=3)
def test_step_returns_loss(lab):
    """returns NT-Xent of the two views it made, computed before the update"""
    check_step_loss(lab, None)
