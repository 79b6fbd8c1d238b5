"""A stand-in evaluator for the how-to's early-stopping sweep: prints a checkpoint's metrics as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, required=True)
    state = json.loads(parser.parse_args().checkpoint.read_text())
    print(json.dumps({"epoch": state["epoch"], "val_loss": state["val_loss"]}))


if __name__ == "__main__":
    main()
