#!/bin/bash
set -euo pipefail
cd /app
python3 train.py \
  --learning-rate "$LEARNING_RATE" \
  --epochs "$EPOCHS" \
  --device auto \
  --output "$SPAWN_OUTPUT_DIR"
