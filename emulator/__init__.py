"""Dev-only local stack: an API-Gateway-faithful WebSocket gateway and a dynalite launcher.

Never packaged for Lambda (see the Makefile's package target).
"""
