#!/usr/bin/env python3
import random

import yaml

random.seed(42)

# Generate 100 random parameter combinations
params = []
for i in range(100):
    params.append({
        'name': f'random-{i:03d}',
        'learning_rate': random.uniform(0.0001, 0.01),
        'batch_size': random.choice([16, 32, 64, 128]),
        'dropout': random.uniform(0.0, 0.5),
        'weight_decay': random.uniform(0.0, 0.001)
    })

sweep = {
    'defaults': {
        'instance_type': 'g5.xlarge',
        'ttl': '4h',
        'spot': True
    },
    'params': params
}

with open('random-search.yaml', 'w') as f:
    yaml.dump(sweep, f, default_flow_style=False)

print(f"Generated {len(params)} random parameter combinations")
