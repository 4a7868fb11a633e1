"""How long the reference studio keeps a job "processing": ``serve --render-delay``.

Real render times vary; a studio that takes exactly D seconds for every job is the
best case for a client that learns render times, and a phase accident for one that
polls at a fixed period. So the delay may be a distribution:

- ``D``: every job takes D seconds (``0`` is as fast as it can);
- ``LOW-HIGH``: uniform between LOW and HIGH seconds (``0.5-2``);
- ``lognormal:MEDIAN[:SIGMA]``: log-normal with that median and shape (default
  0.5: half the jobs within about 0.7x-1.4x the median, one in twenty beyond 2.3x).
  SIGMA is at most 3 (one job in twenty beyond 140x the median already); a huge
  one (1000) would overflow ``math.exp`` for about half the jobs.

No draw is longer than a day, whatever the spec: the studio sleeps it out, and a
render time of years would be a typo, not a test.

Each job's draw is a function of its model and form state, with each URL cut to its
path and query: the same manifest gets the same render times from any studio,
whichever port it listens on and in whatever order its jobs arrive, so two clients
measured on two studios face the same renders. (The request id would not do: it
is a fresh uuid for every submission.)

Standard library only, and cheap to import: the CLI parses the flag before it
knows whether a studio will start.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import urlsplit

__all__ = ["RenderDelay"]

_NUMBER: Final = r"(?:\d+(?:\.\d*)?|\.\d+)"
_RANGE: Final = re.compile(rf"\s*({_NUMBER})\s*-\s*({_NUMBER})\s*")
_DEFAULT_SIGMA: Final = 0.5
# With SIGMA <= 3, math.exp stays finite (at most ~1e12: the hash's resolution
# bounds the normal quantile near 9.2); see the module docstring.
_MAX_SIGMA: Final = 3.0
_MAX_SECONDS: Final = 86_400.0  # a day
_SYNTAX: Final = "expected SECONDS, LOW-HIGH or lognormal:MEDIAN[:SIGMA]"


@dataclass(frozen=True, slots=True)
class RenderDelay:
    """A render-time distribution; ``seconds_for`` draws one job's render time."""

    kind: Literal["fixed", "uniform", "lognormal"] = "fixed"
    a: float = 0.0  # fixed: the seconds; uniform: the low end; lognormal: the median
    b: float = 0.0  # uniform: the high end; lognormal: sigma; fixed: unused

    def __post_init__(self) -> None:
        if not (math.isfinite(self.a) and math.isfinite(self.b)):
            raise ValueError("render delays must be finite")
        if self.a < 0 or self.b < 0:
            raise ValueError("render delays must be >= 0")
        if self.kind == "uniform" and self.b < self.a:
            raise ValueError(f"the range {self.a:g}-{self.b:g} ends below where it starts")
        if self.kind == "lognormal" and self.a <= 0:
            raise ValueError("a lognormal's median must be > 0")
        if self.kind == "lognormal" and self.b > _MAX_SIGMA:
            raise ValueError(f"a lognormal's sigma must be <= {_MAX_SIGMA:g}")

    @classmethod
    def parse(cls, text: str) -> RenderDelay:
        """``D``, ``LOW-HIGH`` or ``lognormal:MEDIAN[:SIGMA]``; ValueError says why not."""
        try:
            return cls._parse(text.strip())
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None

    @classmethod
    def _parse(cls, spec: str) -> RenderDelay:
        if spec.lower().startswith("lognormal:"):
            parts = spec.split(":")[1:]
            if len(parts) > 2 or not all(parts):
                raise ValueError(_SYNTAX)
            median, sigma = _number(parts[0]), _DEFAULT_SIGMA
            if len(parts) == 2:
                sigma = _number(parts[1])
            return cls("lognormal", median, sigma)
        found = _RANGE.fullmatch(spec)
        if found:
            return cls("uniform", float(found.group(1)), float(found.group(2)))
        try:
            return cls("fixed", _number(spec))
        except ValueError:
            raise ValueError(f"not a number of seconds >= 0; {_SYNTAX}") from None

    def seconds_for(self, model: str, form_state: Mapping[str, Any]) -> float:
        """This job's render time: the same for the same model and inputs, every time;
        at most a day."""
        return min(self._draw(model, form_state), _MAX_SECONDS)

    def _draw(self, model: str, form_state: Mapping[str, Any]) -> float:
        if self.kind == "fixed":
            return self.a
        u = _unit(model, form_state)
        if self.kind == "uniform":
            return self.a + (self.b - self.a) * u
        from statistics import NormalDist  # the flag's parser need not pay for it

        # A huge median times a large factor is inf, not an error: the min clamps it.
        return self.a * math.exp(self.b * NormalDist().inv_cdf(u))

    def __str__(self) -> str:
        if self.kind == "uniform":
            return f"{self.a:g}-{self.b:g}"
        if self.kind == "lognormal":
            return f"lognormal:{self.a:g}:{self.b:g}"
        return f"{self.a:g}"


def _number(part: str) -> float:
    try:
        value = float(part)
    except ValueError:
        raise ValueError(f"{part.strip()!r} is not a number; {_SYNTAX}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{part.strip()!r} is not a number of seconds >= 0")
    return value


def _unit(model: str, form_state: Mapping[str, Any]) -> float:
    """A number in (0, 1), uniform over jobs, fixed by the model and the form state."""
    canonical = json.dumps(
        [model, {k: _location_free(v) for k, v in form_state.items()}],
        sort_keys=True,
        default=str,
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return (int.from_bytes(digest[:8], "big") + 0.5) / 2**64


def _location_free(value: Any) -> Any:
    """A URL without its scheme and host: the studio's own /assets/ move with its port."""
    if isinstance(value, str) and "://" in value:
        parts = urlsplit(value)
        return f"{parts.path}?{parts.query}" if parts.query else parts.path
    return value
