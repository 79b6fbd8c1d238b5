#!/bin/bash
set -e

cd /app

# Train with checkpoints
python3 train.py \
  --learning-rate "$LEARNING_RATE" \
  --checkpoint-every 10 \
  --epochs 10 \
  --output /checkpoints

# After 10 epochs, evaluate
python3 evaluate.py --checkpoint /checkpoints/epoch-10.pth > "$SPAWN_OUTPUT_DIR/eval.json"

# Check if validation loss is acceptable
VAL_LOSS=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["val_loss"])' "$SPAWN_OUTPUT_DIR/eval.json")

if python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)' "$VAL_LOSS" "$VAL_LOSS_THRESHOLD"; then
  echo "Validation loss $VAL_LOSS exceeds threshold $VAL_LOSS_THRESHOLD. Stopping early."
  cp "$SPAWN_OUTPUT_DIR/eval.json" "$SPAWN_OUTPUT_DIR/early-stopped.json"
  spored complete --status stopped --message "val_loss $VAL_LOSS > $VAL_LOSS_THRESHOLD"
  exit 0
fi

# Continue training
python3 train.py \
  --learning-rate "$LEARNING_RATE" \
  --resume /checkpoints/epoch-10.pth \
  --epochs 100 \
  --output "$SPAWN_OUTPUT_DIR"

spored complete --status success
