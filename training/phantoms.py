"""Phantoms for training: random draws of :class:`planner.demo.phantom.SpinePhantom` on the 1 mm grid.

Each draw has its own anatomy and contrast (:meth:`Anatomy.random`), a random
L5-S1 finding and a patient turned up to 5 degrees about each axis. Its
targets are exact where the real studies' are: L5; the lumbar bodies and S1
(the first sacral body) as bodies; every disc space (the L5-S1 disc's
displaced material unsupervised, as the real discs are the space between the
labelled bodies); the sacral segments below S1 unsupervised as bodies, as the
real sacrum is.
"""

from __future__ import annotations

import numpy as np

from planner.demo.draws import random_finding
from planner.demo.phantom import Anatomy, SpinePhantom
from planner.spine.model import BODY, DISC, L5, OUTPUTS
from training.data import CACHE, IGNORE, Case, save_cache

def random_phantom(rng: np.random.Generator) -> SpinePhantom:
    return SpinePhantom(
        finding=random_finding(rng),
        anatomy=Anatomy.random(rng),
        rotation_deg=tuple(float(v) for v in rng.uniform(-5.0, 5.0, 3)),
    )


#: the training phantoms are one fixed set of draws, whatever a run's own ``--seed`` (which draws its crops)
PHANTOM_SEED = 20261201


def phantom_case(index: int, seed: int = PHANTOM_SEED) -> Case:
    """Training phantom number ``index`` of ``seed`` (deterministic), cached like the real studies (the seed in
    the cache's name: the cache once held one set whatever seed asked for it)."""
    name = f"phantom3-{seed}-{index:03d}"
    cached = CACHE / f"{name}.npz"
    if cached.exists():
        with np.load(cached) as data:
            return Case(name, "phantom", data["image"], data["labels"])
    rng = np.random.default_rng([seed, index])
    phantom = random_phantom(rng)
    # 1 mm canonical grid: lateral -40..40 (+x), rows +150..-140 (z, superior first), columns -110..110 (+y)
    xs, zs, ys = np.arange(-40.0, 41.0), np.arange(150.0, -141.0, -1.0), np.arange(-110.0, 111.0)
    centre = phantom.l5s1.centre
    image = np.zeros((len(xs), len(zs), len(ys)), np.float32)
    labels = np.zeros((len(OUTPUTS),) + image.shape, np.uint8)
    zz, yy = np.meshgrid(zs + centre[2], ys + centre[1], indexing="ij")
    for k, x in enumerate(xs):
        points = np.stack([np.full(zz.shape, x + centre[0]), yy, zz], axis=-1).astype(np.float32)
        sample, masks = phantom.sample(points)
        image[k] = sample
        upright = phantom.to_phantom(points)
        l5, body, disc = labels[L5, k], labels[BODY, k], labels[DISC, k]
        l5[masks["L5_body"]] = 1
        for level in ("L5", "L4", "L3", "L2", "L1", "S1"):
            body[masks[f"{level}_body"]] = 1
        for level in ("S2", "S3", "S4", "S5"):
            body[masks[f"{level}_body"]] = IGNORE
        for name in phantom.discs:
            disc[masks[f"{name}_disc"]] = 1
        core = phantom.disc_mask_without_finding(upright)
        disc[masks["L5-S1_disc"] & ~core] = IGNORE
    CACHE.mkdir(parents=True, exist_ok=True)
    save_cache(cached, image=image, labels=labels)
    return Case(name, "phantom", image, labels)
