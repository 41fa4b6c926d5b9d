#!/usr/bin/env python
import os
import sys

# Commands that must work without PostgreSQL/Redis (they are the fakes, or pure helpers).
NO_SERVICES = {"help", "fake_hubspot", "fake_calendly", "send_test_webhook", "lint_utms", "check"}


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command not in NO_SERVICES and not command.startswith("-"):
        from project.preflight import check_or_exit  # before Django loads: one clear line when a service is down

        check_or_exit(create_database=command == "migrate")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
