#!/usr/bin/env python3
import itertools

import yaml

# Define parameter ranges
learning_rates = [0.0001, 0.0003, 0.001, 0.003, 0.01]
batch_sizes = [16, 32, 64, 128]
optimizers = ['adam', 'sgd', 'rmsprop']
dropouts = [0.0, 0.2, 0.5]

# Generate all combinations
params = []
for lr, bs, opt, drop in itertools.product(learning_rates, batch_sizes, optimizers, dropouts):
    params.append({
        'name': f'lr-{lr}-bs-{bs}-opt-{opt}-drop-{drop}',
        'learning_rate': lr,
        'batch_size': bs,
        'optimizer': opt,
        'dropout': drop
    })

# Create sweep config
sweep = {
    'defaults': {
        'instance_type': 'g5.xlarge',
        'region': 'us-east-1',
        'ttl': '6h',
        'spot': True,
        'iam_policy': 's3:FullAccess,logs:WriteOnly',
        'on_complete': 'terminate'
    },
    'params': params
}

# Write to file
with open('sweep.yaml', 'w') as f:
    yaml.dump(sweep, f, default_flow_style=False)

print(f"Generated {len(params)} parameter combinations")
print(f"Total combinations: {len(learning_rates)} × {len(batch_sizes)} × {len(optimizers)} × {len(dropouts)} = {len(params)}")
