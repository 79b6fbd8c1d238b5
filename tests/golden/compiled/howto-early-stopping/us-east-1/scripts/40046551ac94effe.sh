#!/bin/bash
set -e

cd /app

# Train with checkpoints
python train.py \
  --learning-rate $LEARNING_RATE \
  --checkpoint-every 10 \
  --output /checkpoints

# After 10 epochs, evaluate
python evaluate.py --checkpoint /checkpoints/epoch-10.pth > /tmp/eval.json

# Check if validation loss is acceptable
VAL_LOSS=$(jq -r '.val_loss' /tmp/eval.json)
THRESHOLD=1.0

if (( $(echo "$VAL_LOSS > $THRESHOLD" | bc -l) )); then
  echo "Validation loss $VAL_LOSS exceeds threshold $THRESHOLD. Stopping early."
  aws s3 cp /tmp/eval.json s3://results/$NAME/early-stopped.json
  spored complete --status stopped
  exit 0
fi

# Continue training
python train.py \
  --learning-rate $LEARNING_RATE \
  --resume /checkpoints/epoch-10.pth \
  --epochs 100 \
  --output /results

aws s3 cp /results/model.pth s3://results/$NAME/model.pth
spored complete --status success
