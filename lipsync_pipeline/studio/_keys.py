"""Where ``serve`` finds the API keys it accepts: the environment and a file.

Keys given as ``--api-key`` arguments are visible to every user of the machine
(``ps``, ``/proc/PID/cmdline``), so ``serve`` also reads them from
``LIPSYNC_STUDIO_API_KEYS`` (separated by commas or whitespace) and from a file
(``--api-key-file``: one key per line; blank lines and ``#`` comments ignored).
A key is never echoed back: a file that cannot be read is named, its content is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

__all__ = ["KeySourceError", "collect_api_keys"]


class KeySourceError(Exception):
    """A key file that cannot be used; the message names the file, never a key."""


def _from_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise KeySourceError(f"--api-key-file {path}: cannot read it ({reason})") from None
    keys = [line.strip() for line in text.splitlines()]
    keys = [key for key in keys if key and not key.startswith("#")]
    if not keys:
        raise KeySourceError(f"--api-key-file {path}: no key in it")
    return keys


def collect_api_keys(
    arguments: Iterable[str], env_value: str | None, key_file: Path | None
) -> frozenset[str]:
    """Every key from the three sources; empty means "any sk_<id>_<secret> key"."""
    keys = set(arguments)
    if env_value:
        keys.update(env_value.replace(",", " ").split())
    if key_file is not None:
        keys.update(_from_file(key_file))
    return frozenset(keys)
