#!/bin/bash
set -euo pipefail
cd /app
python3 train.py \
  --learning-rate "$LEARNING_RATE" \
  --epochs 100 \
  --output "$SPAWN_OUTPUT_DIR"    # writes model.pth and metrics.json
