#!/bin/bash
set -e

# Run training
cd /app
python3 train.py \
  --learning-rate "$LEARNING_RATE" \
  --batch-size "$BATCH_SIZE" \
  --output "$SPAWN_OUTPUT_DIR"

# Upload results immediately ($SPAWN_RESULTS_URI ends with '/')
aws s3 cp "$SPAWN_OUTPUT_DIR/model.pth" "${SPAWN_RESULTS_URI}model.pth"
aws s3 cp "$SPAWN_OUTPUT_DIR/metrics.json" "${SPAWN_RESULTS_URI}metrics.json"

# Mark complete
spored complete --status success
