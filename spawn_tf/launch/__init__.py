"""launch, plan and destroy (DESIGN §10): Terraform driven over every root of a build. No boto3 here but in rounds.py."""
