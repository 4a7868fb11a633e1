"""Where the hosted API is and how to authenticate: the one module that reads the
environment (``LIPSYNC_API_KEY``, ``LIPSYNC_BASE_URL``, ``serve``'s
``LIPSYNC_STUDIO_API_KEYS``, the CI runner's ``GITHUB_STEP_SUMMARY``, and for the
input check ``LIPSYNC_CACHE_DIR`` / ``XDG_CACHE_HOME`` and ``LIPSYNC_PRIVATE_INPUTS``)
and checks a base URL.

A flag given on the command line wins over the environment; the key is read
only from the environment (a flag would show it in ``ps`` and shell history).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from lipsync_pipeline._net import AddressPolicy, is_loopback_host
from lipsync_pipeline.errors import KEY_PATTERN, ConfigError, register_api_key

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "CACHE_DIR_ENV",
    "DEFAULT_BASE_URL",
    "MANIFEST_CACHE_ENV",
    "PRIVATE_INPUTS_ENV",
    "STEP_SUMMARY_ENV",
    "STUDIO_API_KEYS_ENV",
    "Remote",
    "cache_dir",
    "check_base_url",
    "input_policy",
    "remote_from_env",
    "step_summary_path",
    "studio_keys_from_env",
]

API_KEY_ENV: Final = "LIPSYNC_API_KEY"
BASE_URL_ENV: Final = "LIPSYNC_BASE_URL"
DEFAULT_BASE_URL: Final = "https://lipsync.studio/api/v1"
# The keys `serve` accepts (commas or spaces between them), kept out of `ps`.
STUDIO_API_KEYS_ENV: Final = "LIPSYNC_STUDIO_API_KEYS"
# GitHub Actions names a file per step whose Markdown it shows on the run's page.
STEP_SUMMARY_ENV: Final = "GITHUB_STEP_SUMMARY"
# Where plan and run keep what they learnt about input URLs (lengths, validators).
CACHE_DIR_ENV: Final = "LIPSYNC_CACHE_DIR"
# "off" (or 0, no, false): every command reads the manifest's YAML and parses the lock
# (manifest/_cache.py, lockfile/_cache.py).
MANIFEST_CACHE_ENV: Final = "LIPSYNC_MANIFEST_CACHE"
_APP_DIR: Final = "lipsync-pipeline"
# "1": the input check may ask private-network addresses too (a studio on the LAN).
PRIVATE_INPUTS_ENV: Final = "LIPSYNC_PRIVATE_INPUTS"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_SCHEMES: Final = frozenset({"http", "https"})


@dataclass(frozen=True, slots=True)
class Remote:
    """An API to talk to: its base URL (checked) and key (never in a repr or a log)."""

    base_url: str
    api_key: str = field(repr=False)


def check_base_url(url: str) -> str:
    """``url`` without a trailing slash, or a ConfigError saying what is wrong with it."""
    url = url.rstrip("/")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:
        raise ConfigError(f"base URL {url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise ConfigError(f"base URL {url!r} is not an http(s) URL (expected http(s)://host/...)")
    return url


def remote_from_env(
    base_url: str | None = None,
    api_key: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Remote:
    """The hosted API to use: ``base_url`` (a flag) or ``$LIPSYNC_BASE_URL`` or the
    default, and ``api_key`` (given by a program) or ``$LIPSYNC_API_KEY``. A
    ConfigError, before any work, if either is missing or malformed; the message
    never repeats the key."""
    env = os.environ if environ is None else environ
    url = check_base_url(base_url or env.get(BASE_URL_ENV) or DEFAULT_BASE_URL)
    key = api_key if api_key is not None else env.get(API_KEY_ENV)
    if not key:
        raise ConfigError(
            f"no API key: set {API_KEY_ENV}=sk_<id>_<secret> (from your lipsync.studio "
            "API settings), or use --local to render on the built-in reference studio"
        )
    # Registered before its shape is checked: a malformed key is still a secret, and
    # from here on no log line, report or lock field shows it.
    register_api_key(key)
    if not KEY_PATTERN.fullmatch(key):
        raise ConfigError(f"{API_KEY_ENV} does not look like sk_<id>_<secret>")
    return Remote(url, key)


def studio_keys_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The keys ``serve`` accepts from ``$LIPSYNC_STUDIO_API_KEYS`` (unparsed), if set."""
    return (os.environ if environ is None else environ).get(STUDIO_API_KEYS_ENV)


def step_summary_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The CI step summary file ``plan`` and ``run`` append to, if the runner set one."""
    value = (os.environ if environ is None else environ).get(STEP_SUMMARY_ENV)
    return Path(value) if value else None


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where the input cache lives: ``$LIPSYNC_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/lipsync-pipeline``, else ``~/.cache/lipsync-pipeline``."""
    env = os.environ if environ is None else environ
    chosen = env.get(CACHE_DIR_ENV)
    if chosen:
        return Path(chosen)
    xdg = env.get("XDG_CACHE_HOME")
    # The XDG spec ignores a relative value: it would depend on the working directory.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / _APP_DIR


def input_policy(
    base_url: str | None = None, *, local: bool = False, environ: Mapping[str, str] | None = None
) -> AddressPolicy:
    """Which addresses the input check may ask: the rule the studio that renders applies.

    The renderer fetches the inputs, so an input it could not fetch is not asked either:
    plain loopback URLs only when the API is on this machine too (``--local``, or a base
    URL on loopback: ``serve``), private networks only with ``LIPSYNC_PRIVATE_INPUTS=1``
    (a studio serving a LAN with ``--allow-private-networks``); link-local (cloud
    metadata) and the other special ranges never. The API is ``base_url`` (a flag),
    else ``$LIPSYNC_BASE_URL``, else the hosted one."""
    env = os.environ if environ is None else environ
    url = base_url or env.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        host = ""
    private = env.get(PRIVATE_INPUTS_ENV, "").strip().lower() in _TRUE
    return AddressPolicy(
        allow_loopback=local or private or is_loopback_host(host), allow_private=private
    )
