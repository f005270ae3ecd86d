"""The settings a command runs with: `qa.Settings`, read once from the `ALUQA_*` variables by `main`."""

from __future__ import annotations

import argparse


def command_settings(args: argparse.Namespace):
    """The `Settings` that `main` read for this command, or read now for a command run by itself (tests).

    Raises:
        SettingsError: an `ALUQA_*` variable is not understood.
    """
    settings = getattr(args, "settings", None)
    if settings is None:
        from qa.settings import Settings

        settings = Settings()
    return settings
