"""A handler module whose import fails: Lambda reports Runtime.ImportModuleError."""

import not_a_module_anywhere  # noqa: F401


def handler(event: dict, context) -> dict:
    return {}
