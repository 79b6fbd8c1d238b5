#!/bin/bash
set -euo pipefail
cd /app
python3 train.py \
  --learning-rate "$LEARNING_RATE" \
  --batch-size "$BATCH_SIZE" \
  --output "$SPAWN_OUTPUT_DIR"
