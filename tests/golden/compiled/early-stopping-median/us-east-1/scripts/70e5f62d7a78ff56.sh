#!/bin/bash
set -e

cd /app
mkdir -p /checkpoints

for EPOCH in $(seq 1 "$EPOCHS"); do
  # Train one more epoch, from the last checkpoint
  RESUME=()
  if [ "$EPOCH" -gt 1 ]; then RESUME=(--resume "/checkpoints/epoch-$((EPOCH - 1)).pth"); fi
  python3 train.py \
    --learning-rate "$LEARNING_RATE" \
    --epochs "$EPOCH" \
    --checkpoint-every 1 \
    "${RESUME[@]}" \
    --output /checkpoints

  # Evaluate, and report the validation loss of this epoch
  python3 evaluate.py --checkpoint "/checkpoints/epoch-$EPOCH.pth" > /tmp/eval.json
  VAL_LOSS=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["val_loss"])' /tmp/eval.json)

  VERDICT=0
  spored report --step "$EPOCH" val_loss="$VAL_LOSS" || VERDICT=$?
  if [ "$VERDICT" -eq 3 ]; then
    echo "Validation loss $VAL_LOSS at epoch $EPOCH is behind the other runs. Stopping early."
    cp /tmp/eval.json "$SPAWN_OUTPUT_DIR/early-stopped.json"
    exit 0
  elif [ "$VERDICT" -ne 0 ]; then
    exit "$VERDICT"
  fi
done

cp "/checkpoints/epoch-$EPOCHS.pth" "$SPAWN_OUTPUT_DIR/model.pth"
spored complete --status success
