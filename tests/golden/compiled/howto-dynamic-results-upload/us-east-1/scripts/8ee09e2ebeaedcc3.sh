#!/bin/bash
set -e

# Run training
cd /app
python train.py \
  --learning-rate $LEARNING_RATE \
  --batch-size $BATCH_SIZE \
  --output /results

# Upload results immediately
aws s3 cp /results/model.pth \
  s3://my-bucket/sweep-results/$NAME/model.pth
aws s3 cp /results/metrics.json \
  s3://my-bucket/sweep-results/$NAME/metrics.json

# Mark complete
spored complete --status success
