"""Request validation for the generation endpoints: the envelope, each model's formState, auth.

Error bodies (the hosted API documents none, so we decide):
``{"error": "<message>", "code": "<code>", "field": "<path or null>", "details": [...]}``
where ``details`` lists every problem found as ``{"field", "message"}``.

* 400 ``invalid_json`` / ``invalid_request``: the body is not a JSON object, or the
  envelope is wrong (``formState`` missing or not an object, unknown envelope keys,
  a bad ``webhook``);
* 422 ``invalid_form_state``: the envelope is fine but ``formState`` is not (missing
  or unknown fields for the model, wrong types, bad ``resolution``/``order``, inputs
  that are not http(s) URLs);
* 401 ``unauthorized``: no bearer key, or one that is not accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from lipsync_pipeline._net import is_loopback_host
from lipsync_pipeline.errors import KEY_PATTERN

from .. import pricing

__all__ = [
    "MODELS",
    "RESOLUTIONS",
    "URL_FIELDS",
    "ModelSpec",
    "RequestProblem",
    "check_api_key",
    "check_idempotency_key",
    "parse_envelope",
    "request_digest",
]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    required: tuple[str, ...]
    optional: frozenset[str]


MODELS: Final[Mapping[str, ModelSpec]] = {
    "lipsync-video": ModelSpec(
        ("video", "audio"), frozenset({"resolution", "mask_image", "prompt", "seed"})
    ),
    "lipsync-image": ModelSpec(
        ("image", "audio"), frozenset({"resolution", "mask_image", "prompt", "seed"})
    ),
    "lipsync-image-multi": ModelSpec(
        ("image", "left_audio", "right_audio"),
        frozenset({"order", "resolution", "prompt", "seed"}),
    ),
}
URL_FIELDS: Final = frozenset(
    {"video", "audio", "image", "mask_image", "left_audio", "right_audio"}
)
RESOLUTIONS: Final = ("480p", "720p")
_MAX_URL: Final = 4096
_MAX_PROMPT: Final = 4000
_SEED_RANGE: Final = (-(2**63), 2**63 - 1)
# Keys look like sk_<id>_<secret>; the secret may itself contain '_' or '-'.
_IDEMPOTENCY_RE: Final = re.compile(r"[\x21-\x7e]{1,255}")


class RequestProblem(Exception):
    """A request the studio refuses; ``body()`` is the JSON error response."""

    def __init__(self, status: int, code: str, details: list[tuple[str | None, str]]) -> None:
        super().__init__(details[0][1])
        self.status, self.code, self.details = status, code, details

    def body(self) -> dict[str, Any]:
        field, message = self.details[0]
        return {
            "error": message,
            "code": self.code,
            "field": field,
            "details": [{"field": f, "message": m} for f, m in self.details],
        }


def check_api_key(header: str | None, allowed: Collection[str]) -> str:
    """The bearer key of an ``Authorization`` header, or ``RequestProblem`` 401."""
    scheme, _, key = (header or "").partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise RequestProblem(
            401,
            "unauthorized",
            [("Authorization", "Missing bearer API key (Authorization: Bearer sk_…)")],
        )
    if allowed:
        # Compare against every key in constant time: no early exit to time.
        ok = False
        for candidate in allowed:
            ok |= hmac.compare_digest(candidate.encode(), key.encode())
    else:
        ok = KEY_PATTERN.fullmatch(key) is not None
    if not ok:
        raise RequestProblem(401, "unauthorized", [("Authorization", "Invalid API key")])
    return key


def check_idempotency_key(value: str | None) -> str | None:
    if value is None:
        return None
    if not _IDEMPOTENCY_RE.fullmatch(value):
        raise RequestProblem(
            422,
            "invalid_idempotency_key",
            [("Idempotency-Key", "Idempotency-Key must be 1-255 printable ASCII characters")],
        )
    return value


def _url_problem(value: object) -> str | None:
    if not isinstance(value, str):
        return "expected a URL string"
    if len(value) > _MAX_URL:
        return f"URL longer than {_MAX_URL} characters"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "expected an absolute http(s) URL"
    return None


def _webhook(value: object) -> str | None:
    if value is None:
        return None
    problem = _url_problem(value)
    if problem is None:
        assert isinstance(value, str)
        parts = urlsplit(value)
        # Plain http would expose job results in transit; loopback is local use.
        if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
            problem = "webhook must be an https URL (http is accepted on loopback only)"
        else:
            return value
    raise RequestProblem(400, "invalid_request", [("webhook", problem)])


def _form_problems(model: str, form: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    spec = MODELS[model]
    problems: list[tuple[str | None, str]] = []
    for name in spec.required:
        if name not in form:
            problems.append((f"formState.{name}", f"{name} is required for {model}"))
    for name, value in form.items():
        where = f"formState.{name}"
        if name not in spec.required and name not in spec.optional:
            problems.append((where, f"unknown field {name!r} for {model}"))
        elif name in URL_FIELDS:
            url_problem = _url_problem(value)
            if url_problem:
                problems.append((where, f"{name}: {url_problem}"))
        elif name == "resolution" and value not in RESOLUTIONS:
            problems.append((where, 'resolution must be "480p" or "720p"'))
        elif name == "order" and value not in pricing.ORDERS:
            problems.append((where, "order must be one of " + ", ".join(pricing.ORDERS)))
        elif name == "prompt" and not (isinstance(value, str) and len(value) <= _MAX_PROMPT):
            problems.append((where, f"prompt must be a string of at most {_MAX_PROMPT} characters"))
        elif name == "seed" and not (
            isinstance(value, int)
            and not isinstance(value, bool)
            and _SEED_RANGE[0] <= value <= _SEED_RANGE[1]
        ):
            problems.append((where, "seed must be a 64-bit integer"))
    return problems


def parse_envelope(raw: bytes, model: str) -> tuple[dict[str, Any], str | None]:
    """(formState, webhook) of a generation request, or ``RequestProblem``."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RequestProblem(
            400, "invalid_json", [(None, "Request body is not valid JSON")]
        ) from None
    except RecursionError:
        # json's C parser guards its recursion: `[[[[…` a few thousand deep (well
        # within 1 MB) raises this, which is the client's fault, not a crash.
        raise RequestProblem(
            400, "invalid_json", [(None, "Request body is nested too deeply")]
        ) from None
    if not isinstance(body, dict):
        raise RequestProblem(400, "invalid_request", [(None, "Request body must be a JSON object")])
    unknown = sorted(set(body) - {"formState", "webhook"})
    if unknown:
        raise RequestProblem(
            400,
            "invalid_request",
            [(name, f"unknown field {name!r} (expected webhook, formState)") for name in unknown],
        )
    if "formState" not in body:
        raise RequestProblem(400, "invalid_request", [("formState", "formState is required")])
    form = body["formState"]
    if not isinstance(form, dict):
        raise RequestProblem(400, "invalid_request", [("formState", "formState must be an object")])
    webhook = _webhook(body.get("webhook"))
    problems = _form_problems(model, form)
    if problems:
        raise RequestProblem(422, "invalid_form_state", problems)
    return form, webhook


def request_digest(model: str, form: Mapping[str, Any]) -> bytes:
    """What an idempotency key is bound to: the model and formState (not the webhook)."""
    canonical = json.dumps(
        {"model": model, "formState": form}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).digest()
