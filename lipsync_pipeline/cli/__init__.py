"""The ``lipsync-pipeline`` command: parsing, views (text, JSON and Markdown), exit
codes, and what CI reads (the step summary, JUnit XML)."""

from __future__ import annotations

from lipsync_pipeline.cli._main import command, main

__all__ = [
    "command",
    "main",
]
