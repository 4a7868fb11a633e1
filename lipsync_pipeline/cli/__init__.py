"""The ``lipsync-pipeline`` command: parsing, views (text and JSON), exit codes."""

from __future__ import annotations

from lipsync_pipeline.cli._main import main

__all__ = [
    "main",
]
