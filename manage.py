#!/usr/bin/env python
"""Django's command-line utility for the DynamoWave site."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dynamowave_site.settings")
    if sys.argv[1:2] != ["runstack"]:  # which starts the stack, and decides its endpoints itself
        # The developer's entry point (Zappa never runs it): a shell or createsuperuser in a
        # second terminal sees the data the running `make run` does, never AWS's by accident.
        from dynamowave_site.local_stack import stack_defaults_apply

        stack_defaults_apply()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
