"""`python -m emulator --template template.yaml`: the emulated WebSocket API and its functions."""

from emulator.cli import main

main()
