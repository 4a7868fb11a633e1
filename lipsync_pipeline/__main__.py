"""``python -m lipsync_pipeline``: the same as the ``lipsync-pipeline`` command."""

from __future__ import annotations

import sys

from lipsync_pipeline.cli import command

sys.exit(command())
