"""The Django Channels tutorial's chat (part 3, async consumer), as a tiny project of its own.

Faithful to https://channels.readthedocs.io/en/stable/tutorial/ except where a comment says
otherwise; served by `python -m daphne ... bench.baselines.channels_chat.asgi:application`.
"""
