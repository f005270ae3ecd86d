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


def command_store(args: argparse.Namespace):
    """The store a command works on: `--store`, else `Settings.store` (`ALUQA_STORE`, else local), as a `StoreSpec`.

    Raises:
        StoreSpecError: neither `local` nor `milvus:URI`.
    """
    from embeddings.store import parse_store

    return parse_store(getattr(args, "store", None) or command_settings(args).store)
