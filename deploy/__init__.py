"""Build, check and deploy DynamoWave to AWS: `python -m deploy --help` (DEPLOY.md explains)."""
