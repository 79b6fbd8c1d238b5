"""A stand-in trainer for the how-to's sweeps: the command line of a real one, no framework needed.

It "trains" by computing a loss curve from the learning rate (lowest near 1e-3), writes a checkpoint
every --checkpoint-every epochs (epoch-N.pth), and at the end model.pth and metrics.json in --output.
Checkpoints are JSON, so evaluate.py and --resume read them with the standard library alone.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path


def loss_at(learning_rate: float, epoch: int) -> float:
    """Validation loss after `epoch` epochs: a floor set by how far the rate is from 1e-3, plus a decaying term."""
    return round(0.5 + 0.6 * abs(math.log10(learning_rate) + 3) + 2.0 / (epoch + 1), 6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learning-rate", type=float, required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--checkpoint-every", type=int, default=0)
    parser.add_argument("--resume", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    start = json.loads(args.resume.read_text())["epoch"] if args.resume else 0
    for epoch in range(start + 1, args.epochs + 1):
        state = {"epoch": epoch, "learning_rate": args.learning_rate, "batch_size": args.batch_size,
                 "val_loss": loss_at(args.learning_rate, epoch)}  # fmt: skip
        if args.checkpoint_every and epoch % args.checkpoint_every == 0:
            (args.output / f"epoch-{epoch}.pth").write_text(json.dumps(state))
        print(f"epoch {epoch}: val_loss {state['val_loss']}", flush=True)
    final = {"epoch": args.epochs, "learning_rate": args.learning_rate, "batch_size": args.batch_size,
             "val_loss": loss_at(args.learning_rate, args.epochs)}  # fmt: skip
    (args.output / "model.pth").write_text(json.dumps(final))
    metrics = {**final, "name": os.environ.get("NAME", ""), "val_accuracy": round(1 / (1 + final["val_loss"]), 6)}
    (args.output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")


if __name__ == "__main__":
    main()
