#!/bin/bash
set -euo pipefail
echo "run $NAME in $SPAWN_REGION"
cd /app
python3 train.py \
  --learning-rate "$LEARNING_RATE" \
  --batch-size "$BATCH_SIZE" \
  --dropout "$DROPOUT" \
  --output "$SPAWN_OUTPUT_DIR"
