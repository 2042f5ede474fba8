"""Train the spine model and export it to ONNX (CPU; seeded; see the model card in docs/spine-model.md).

    pip install -e ".[train]"          # PyTorch (CPU) and onnx: training only, never at run time
    python -m training.train_spine_model --out planner/spine/weights/spine-unet.onnx
    python -m training.train_spine_model --holdout vb1 --out training/weights/loso-vb1.onnx

The real studies (their labelled bodies, and the discs between them) and 40
random phantoms, 3000 steps of 16 slices of 240 mm (about 25 minutes on 2
cores, 2.5 GB). ``--holdout SOURCE`` leaves that source's studies out
(leave-one-source-out: what ``bench.real_levels`` scores each source with).
The same seed on the same machine gives the same weights.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from planner.spine.model import OUTPUTS
from training.augment import batch, prepare
from training.data import IGNORE, case_names, load_case, source_of, targets
from training.model import SpineNet
from training.phantoms import phantom_case

SIZE = 160  # training crops: 160 x 160 pixels of 1.5 mm (240 mm), inference runs on the whole slice


def loss_of(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy and soft Dice of each output where its target is known (1 or 0)."""
    known = target != IGNORE
    truth = (target == 1).float()
    bce = F.binary_cross_entropy_with_logits(logits, truth, reduction="none")
    loss = (bce * known).sum() / known.sum().clamp(min=1)
    probabilities = torch.sigmoid(logits) * known
    truth = truth * known
    dims = (0, 2, 3)
    intersection = (probabilities * truth).sum(dims)
    total = probabilities.sum(dims) + truth.sum(dims)
    present = truth.sum(dims) > 0
    dice = (2 * intersection + 1.0) / (total + 1.0)
    if present.any():
        loss = loss + (1.0 - dice[present]).mean()
    return loss


def train(
    cases: list, out: Path, iterations: int, seed: int, batch_size: int = 16, log_every: int = 100,
    weights: dict[str, float] | None = None, threads: int = 2,
) -> None:
    """Train a fresh model on prepared ``cases`` and export it to ``out``."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    rng = np.random.default_rng(seed)
    model = SpineNet()
    assert len(OUTPUTS) == 3
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=iterations, pct_start=0.05)
    started = time.time()
    running = 0.0
    model.train()
    for step in range(1, iterations + 1):
        images, labels = batch(cases, rng, batch_size, SIZE, weights)
        logits = model(images)
        loss = loss_of(logits, labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        running += float(loss.detach())
        if step % log_every == 0:
            print(f"step {step}/{iterations} loss {running / log_every:.4f} ({time.time() - started:.0f} s)", flush=True)
            running = 0.0
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), out.with_suffix(".pt"))  # kept should the export fail
    export(model, out)
    out.with_suffix(".pt").unlink()
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) after {time.time() - started:.0f} s", flush=True)


def export(model: SpineNet, out: Path) -> None:
    model.eval()
    dummy = torch.zeros(1, 1, SIZE, SIZE)
    torch.onnx.export(
        model,
        (dummy,),
        str(out),
        input_names=["image"],
        output_names=["logits"],
        dynamic_axes={"image": {0: "slices", 2: "rows", 3: "columns"}, "logits": {0: "slices", 2: "rows", 3: "columns"}},
        opset_version=17,
        dynamo=False,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--holdout", help="leave this source out (vb1, vb2 or vb3)")
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument("--phantoms", type=int, default=40, help="random phantoms among the training studies")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument(
        "--threads", type=int, default=2,
        help="PyTorch threads (two runs of 1 thread each finish sooner on 2 cores than one after another)",
    )
    parser.add_argument(
        "--inner-labels", default="", metavar="SOURCE:VOXELS,...",
        help="leave this many voxels outside a source's labels unsupervised (labels drawn inside the cortex), "
        "e.g. vb1:2; none by default (the shipped models)",
    )
    parser.add_argument(
        "--outer-labels", default="", metavar="SOURCE:VOXELS,...",
        help="grow a source's labels by this many voxels (labels drawn inside the cortex), e.g. vb1:2; none by "
        "default (the shipped models)",
    )
    args = parser.parse_args(argv)
    try:  # the export needs it: found out now, not after the training's half hour
        import onnx  # noqa: F401
    except ImportError:
        parser.error('the onnx package is missing; install the training extra: pip install -e ".[train]"')
    sources = sorted({source_of(name) for name in case_names()})

    def per_source(option: str, value: str) -> dict[str, int]:
        out = {}
        for item in filter(None, value.split(",")):
            source, _, voxels = item.partition(":")
            if source not in sources or not voxels.isdigit():
                parser.error(f"{option}: {item!r} is not SOURCE:VOXELS with a source of {', '.join(sources)} (e.g. vb1:2)")
            out[source] = int(voxels)
        return out

    inner = per_source("--inner-labels", args.inner_labels)
    outer = per_source("--outer-labels", args.outer_labels)
    names = [n for n in case_names() if source_of(n) != args.holdout]
    if args.holdout and len(names) == len(case_names()):
        parser.error(f"no study of source {args.holdout!r}")
    print(f"training on {len(names)} real studies ({', '.join(names)}) and {args.phantoms} phantoms", flush=True)
    real = [load_case(name) for name in names]
    phantoms = [phantom_case(i) for i in range(args.phantoms)]  # one fixed set (training.phantoms.PHANTOM_SEED)
    cases = [prepare(c, targets(c, inner, outer)) for c in real + phantoms]
    train(cases, args.out, args.iterations, args.seed, weights={"phantom": 0.5}, threads=args.threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
