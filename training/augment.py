"""Random training slices: what other scanners, patients and fields of view would have shown.

Every sample is one sagittal slice of a study (or the mean of up to five
neighbouring 1 mm slices: a thick slice's partial volume), resampled to the
model's pixel size through a random affine (rotation +-20 degrees, anatomy 0.8
to 1.25 times the size, +-10 % aspect), centred near L5 so that the crop mostly
shows the top of the sacrum and ends anywhere from L3 upwards, in one slice of
six cut between mid-L4 and just under L5-S1 or starting under L5 (a field of
view that misses the junction); then a random gain, gamma or contrast curve (one
in five not monotonic: another sequence's tissue order), smooth coil field
(+-35 %), blur and Rician noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from planner.spine.model import PIXEL_MM, normalise
from training.data import IGNORE, L5, Case


@dataclass
class Prepared:
    """A case ready for sampling: normalised image and targets as tensors, where L5 lies."""

    name: str
    source: str
    image: torch.Tensor  # [lateral, row, column] float32, 1 mm
    target: torch.Tensor  # [output, lateral, row, column] uint8: 1, 0 or IGNORE
    slices: np.ndarray  # lateral indices through L5
    l5_row_column: np.ndarray  # per lateral index (row, column) of L5's centroid in that slice (or the study's)
    l5_bottom_row: float


def prepare(case: Case, target: np.ndarray) -> Prepared:
    l5 = target[L5] == 1
    slices = np.nonzero(l5.any(axis=(1, 2)))[0]
    overall = np.argwhere(l5).mean(axis=0)[1:]
    centres = np.tile(overall, (l5.shape[0], 1))
    for k in slices:
        centres[k] = np.argwhere(l5[k]).mean(axis=0)
    bottom = float(np.argwhere(l5)[:, 1].max())
    image = torch.from_numpy(normalise(case.image))
    return Prepared(case.name, case.source, image, torch.from_numpy(target), slices, centres, bottom)


#: shares of training slices whose field of view is cut under (or starts under) L5, and whose contrast is
#: scrambled
CUT_BELOW = 0.12
CUT_ABOVE = 0.04
SCRAMBLED = 0.2


def _field(rng: np.random.Generator, size: int, amplitude: float) -> torch.Tensor:
    coarse = torch.from_numpy(rng.normal(0.0, 1.0, (1, 1, 4, 4)).astype(np.float32))
    smooth = F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)[0, 0]
    smooth = smooth / max(float(smooth.abs().max()), 1e-6)
    return torch.exp(amplitude * smooth)


def _blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, int(round(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    image = image[None, None]
    image = F.conv2d(F.pad(image, (radius, radius, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    image = F.conv2d(F.pad(image, (0, 0, radius, radius), mode="replicate"), kernel.view(1, 1, -1, 1))
    return image[0, 0]


def sample(case: Prepared, rng: np.random.Generator, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One augmented (image [size, size], target [output, size, size]) pair."""
    n = case.image.shape[0]
    if rng.random() < 0.85 and len(case.slices):
        k = int(rng.choice(case.slices))
    else:
        lo, hi = max(0, case.slices.min() - 10), min(n, case.slices.max() + 11)
        k = int(rng.integers(lo, hi))
    thick = 1 if rng.random() < 0.5 else int(rng.integers(2, 6))
    first = int(np.clip(k - thick // 2, 0, n - thick))
    image = case.image[first : first + thick].mean(dim=0)
    target = case.target[:, k].float()
    rows, columns = image.shape
    # where the crop's centre lies, relative to L5 in this slice (mm = source pixels)
    centre_row, centre_column = case.l5_row_column[k]
    half = size * PIXEL_MM / 2
    # the crop's lower edge at least 30 mm below L5's inferior endplate (the top of the sacrum in view)
    lowest_centre = case.l5_bottom_row + 30.0 - half
    centre_row = max(centre_row + rng.uniform(-90.0, 50.0), lowest_centre) if rng.random() < 0.9 else centre_row
    centre_column = centre_column + rng.uniform(-45.0, 45.0)
    angle = np.radians(rng.uniform(-20.0, 20.0))
    zoom = np.exp(rng.uniform(np.log(0.8), np.log(1.25)))
    aspect = np.exp(rng.uniform(-0.1, 0.1))
    pixel = PIXEL_MM / zoom  # source mm per output pixel: larger anatomy = finer sampling
    u = (torch.arange(size, dtype=torch.float32) - (size - 1) / 2) * pixel
    uu, vv = torch.meshgrid(u * aspect, u / aspect, indexing="ij")  # output rows, columns
    cos, sin = float(np.cos(angle)), float(np.sin(angle))
    source_row = centre_row + cos * uu - sin * vv
    source_column = centre_column + sin * uu + cos * vv
    grid = torch.stack([source_column / (columns - 1) * 2 - 1, source_row / (rows - 1) * 2 - 1], dim=-1)[None]
    out = F.grid_sample(image[None, None], grid, mode="bilinear", padding_mode="zeros", align_corners=True)[0, 0]
    # outside the study: nothing there (a field of view ending), so supervised as 0
    label = F.grid_sample(target[None], grid, mode="nearest", padding_mode="zeros", align_corners=True)[0]
    # a field of view that misses the junction: cut anywhere from mid-L4 to just under the L5-S1 disc (the
    # lowest body in view is then not always S1), or starting under L5 (the sacrum alone: no L5 anywhere)
    cut = rng.random()
    if cut < CUT_BELOW:
        edge = case.l5_bottom_row + rng.uniform(-45.0, 12.0)
        gone = source_row > edge
    elif cut < CUT_BELOW + CUT_ABOVE:
        edge = case.l5_bottom_row + rng.uniform(2.0, 25.0)
        gone = source_row < edge
    else:
        gone = None
    if gone is not None:
        out = torch.where(gone, torch.zeros_like(out), out)
        label = torch.where(gone[None], torch.zeros_like(label), label)
    # intensity: gain, gamma or a random monotonic curve (scanners and sequences order the tissues alike but
    # space them differently), coil field, blur, noise
    out = out * float(rng.uniform(0.75, 1.3))
    contrast = rng.random()
    if contrast < SCRAMBLED:
        # another sequence's contrast (T1, water-only, fat-only): tissues reordered, so that shape, not
        # brightness, names them; a smooth random curve through random levels, air kept dark
        knots = np.array([0.0, 0.15, 0.35, 0.6, 0.85, 1.1, 1.4, 2.0], np.float32)
        values = np.concatenate([[0.0], rng.uniform(0.1, 1.3, len(knots) - 1)]).astype(np.float32)
        out = torch.from_numpy(np.interp(out.clamp(0.0, 2.0).numpy(), knots, values).astype(np.float32))
    elif contrast < SCRAMBLED + 0.4:
        knots = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0], np.float32)
        steps = rng.uniform(0.3, 1.7, len(knots) - 1).astype(np.float32) * np.diff(knots)
        values = np.concatenate([[0.0], np.cumsum(steps)]).astype(np.float32)
        values *= knots[-2] / max(float(values[-2]), 1e-6)  # 1 stays about 1
        out = torch.from_numpy(np.interp(out.clamp(0.0, 2.0).numpy(), knots, values).astype(np.float32))
    else:
        out = out.clamp(min=0.0) ** float(np.exp(rng.uniform(np.log(0.65), np.log(1.6))))
    if rng.random() < 0.7:
        out = out * _field(rng, size, float(rng.uniform(0.1, 0.35)))
    if rng.random() < 0.3:
        out = _blur(out, float(rng.uniform(0.4, 1.2)))
    if rng.random() < 0.6:
        sigma = float(rng.uniform(0.005, 0.06))
        noise = torch.from_numpy(rng.normal(0.0, sigma, (2, size, size)).astype(np.float32))
        out = torch.sqrt((out + noise[0]) ** 2 + noise[1] ** 2)
    return out.clamp(0.0, 2.0), label.to(torch.uint8)


def batch(
    cases: list[Prepared], rng: np.random.Generator, count: int, size: int, weights: dict[str, float] | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` samples, each source drawn equally often (VB3's twenty studies do not outweigh VB1's five)
    unless ``weights`` (source: relative weight, default 1) says otherwise."""
    by_source: dict[str, list[Prepared]] = {}
    for case in cases:
        by_source.setdefault(case.source, []).append(case)
    sources = sorted(by_source)
    p = np.array([(weights or {}).get(s, 1.0) for s in sources], float)
    p /= p.sum()
    images, targets = [], []
    for _ in range(count):
        group = by_source[sources[int(rng.choice(len(sources), p=p))]]
        image, target = sample(group[int(rng.integers(len(group)))], rng, size)
        images.append(image)
        targets.append(target)
    return torch.stack(images)[:, None], torch.stack(targets)


__all__ = ["IGNORE", "Prepared", "batch", "prepare", "sample"]
