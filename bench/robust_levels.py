"""Level counting on the shared real studies made harder: thicker slices, noise, coil inhomogeneity.

    python -m bench.robust_levels [--only vb1-02 ...] [--all] [--loso] [--variants "4 mm slices" ...]

Each real sagittal T2 study of ``../shared/lumbar-mri`` (1 mm slices) is
analysed as it is and as a scanner with other settings would have shown it:
3 mm and 4 mm slices (the mean of 3 or 4 neighbouring slices: the partial
volume of thick slices), Gaussian noise of 3 % of the brightest signal (on
the magnitude), and a smooth multiplicative field of +-30 %. For each, where
:func:`planner.disc.levels.find_levels` put L5-S1 against the study's labelled
bodies: ``ok``, ``N high`` / ``N low`` (levels off; with or without a warning
that the count is doubtful) or ``refused`` (a sentence, no guess), and the
class and maximum displacement found there (no truth: how steady they are).
Prints one Markdown row per study and a summary; a wrong level without a
warning is the failure that matters (exit 1). ``--all`` takes every shared
study instead of VB1's five; ``--loso`` scores each study with the spine
model trained without its source (``bench/loso``), as an unseen scanner would
be met.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "lumbar-mri"
STUDIES = ("vb1-02", "vb1-03", "vb1-06", "vb1-07", "vb1-08")
VARIANTS = ("as acquired", "3 mm slices", "4 mm slices", "noise 3 %", "field +-30 %")


def variant(volume, name: str):
    """``volume`` as the scanner setting ``name`` would have shown it."""
    array = volume.array.astype(np.float32)
    if name.endswith("mm slices"):
        n = int(name[0])
        kept = array.shape[0] // n
        thick = array[: kept * n].reshape(kept, n, *array.shape[1:]).mean(axis=1)
        affine = volume.image_to_lps.copy()
        affine[:3, 3] += affine[:3, 2] * (n - 1) / 2
        affine[:3, 2] *= n
        return replace(volume, array=thick, image_to_lps=affine)
    if name.startswith("noise"):
        rng = np.random.default_rng(0)
        sigma = 0.03 * float(array.max())
        noisy = np.hypot(array + rng.normal(0, sigma, array.shape), rng.normal(0, sigma, array.shape))
        return replace(volume, array=noisy.astype(np.float32))
    if name.startswith("field"):
        j = np.linspace(0, 1, array.shape[1])[None, :, None]
        i = np.linspace(0, 1, array.shape[2])[None, None, :]
        return replace(volume, array=array * (1 + 0.3 * np.sin(3 * j) * np.cos(2 * i)).astype(np.float32))
    return volume


def _load(study: str):
    """(volume, labels with 1 = L5, 2 = L4, ...): VB1's own label 1 is S1 (bench/shared_labels.py)."""
    from bench.real_levels import load_study

    volume, labels = load_study(study)
    return volume, np.where(labels < 100, labels, 0).astype(labels.dtype)


def levels_off(volume, labels, level) -> int:
    """How many levels above (+) or below (-) the true L5-S1 the disc ``level`` lies: the labelled bodies
    mostly below its plane (+), or the lowest one's distance above it in body heights (-)."""
    k, j, i = np.nonzero(labels)
    points = np.c_[i, j, k, np.ones(len(i))] @ volume.image_to_lps.T
    side = (points[:, :3] - np.asarray(level.center_lps)) @ np.asarray(level.normal_lps)  # + superior
    values = labels[k, j, i]
    below = [n for n in range(1, int(labels.max()) + 1) if np.mean(side[values == n] < 0) > 0.5]
    if below:
        return len(below)
    l5 = side[values == 1]
    height = np.percentile(l5, 95) - np.percentile(l5, 5)  # about one body and disc
    return -int(round(np.percentile(l5, 1) / max(height, 1e-6)))


def _segmenter(study: str, loso: bool):
    """The shipped segmenter, or the learned one with the model trained without ``study``'s source."""
    from planner.disc import segmenters

    if not loso:
        return segmenters.DEFAULT
    from bench.real_levels import loso_segmenter

    return loso_segmenter(study)


def evaluate(study: str, name: str, loso: bool = False) -> tuple[str, str]:
    """(where L5-S1 was put, the finding there: class and maximum displacement)."""
    from planner.disc.model import DiscAnalysisError, analyze_volume

    volume, labels = _load(study)
    try:
        analysis = analyze_volume(variant(volume, name), segmenter=_segmenter(study, loso))
    except DiscAnalysisError:
        return "refused", ""
    finding = f"{analysis.finding.classification} {analysis.finding.max_displacement_mm:.1f}"
    off = levels_off(volume, labels, analysis.levels.level("L5-S1"))
    if off == 0:
        return "ok", finding
    doubtful = analysis.levels.confidence != "high"
    where = f"{abs(off)} {'high' if off > 0 else 'low'}"
    return (f"{where} (warned)" if doubtful else f"{where}, NO WARNING"), finding


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=STUDIES)
    parser.add_argument("--all", action="store_true", help="every shared study, not only VB1's five")
    parser.add_argument("--loso", action="store_true", help="each study scored by the model trained without its source")
    parser.add_argument("--variants", nargs="*", default=VARIANTS, choices=VARIANTS)
    args = parser.parse_args(argv)
    if not SHARED.exists():
        print(f"{SHARED} is missing: this benchmark reads the shared real studies")
        return 1
    studies = sorted(p.name for p in SHARED.iterdir() if (p / "vertebrae.npz").exists()) if args.all else args.only
    print("| study | " + " | ".join(args.variants) + " |")
    print("|---" * (len(args.variants) + 1) + "|")
    outcomes = []
    for study in studies:
        row = [evaluate(study, name, args.loso) for name in args.variants]
        outcomes += [where for where, _ in row]
        print(f"| {study} | " + " | ".join(f"{where}: {finding}" if finding else where for where, finding in row) + " |", flush=True)
    right = sum(o == "ok" for o in outcomes)
    silent = sum("NO WARNING" in o for o in outcomes)
    refused = sum(o == "refused" for o in outcomes)
    print(f"\nL5-S1 right in {right} of {len(outcomes)}; refused {refused}; wrong with a warning "
          f"{len(outcomes) - right - silent - refused}; wrong without one {silent}")
    return 1 if silent else 0


if __name__ == "__main__":
    sys.exit(main())
