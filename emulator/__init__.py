"""API Gateway's WebSocket APIs and Lambda on one machine, for any SAM/CloudFormation template.

`python -m emulator --template template.yaml`; emulator/README.md says what it emulates. It
imports nothing of the project it serves, and is never packaged with it.
"""
