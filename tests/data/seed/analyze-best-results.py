# The how-to's aggregation and print loop (seed lines 401-415), verbatim, reading best-results.json
# as spawn-tf results writes it instead of downloading every metrics.json.
import json

with open("best-results.json") as f:
    results = json.load(f)

results.sort(key=lambda x: x.get('val_accuracy', 0), reverse=True)

# Print top 10
print("Top 10 Results:")
print(f"{'Rank':<6} {'Name':<30} {'Val Acc':<10} {'LR':<10} {'BS':<6}")
print("-" * 70)
for i, r in enumerate(results[:10], 1):
    print(f"{i:<6} {r['name']:<30} {r['val_accuracy']:<10.4f} {r['learning_rate']:<10.6f} {r['batch_size']:<6}")

# Save summary
with open('best-results.json', 'w') as f:
    json.dump(results[:10], f, indent=2)

print(f"\nAnalyzed {len(results)} experiments")
print(f"Best: {results[0]['name']} with {results[0]['val_accuracy']:.4f} accuracy")
