"""``/openapi.json``: the contract of ``docs/api-contract.md`` as OpenAPI 3.1.

Built from the same tables the validator uses (``validate.MODELS``), so the
document cannot drift from what the studio accepts.
"""

from __future__ import annotations

from typing import Any

from .. import pricing
from ._validate import MODELS, RESOLUTIONS, URL_FIELDS

__all__ = ["openapi_document"]

_URL = {"type": "string", "format": "uri", "pattern": "^https?://"}
_OPTIONAL: dict[str, dict[str, Any]] = {
    "resolution": {"type": "string", "enum": list(RESOLUTIONS), "default": "480p"},
    "order": {
        "type": "string",
        "enum": list(pricing.ORDERS),
        "default": "meanwhile",
        "description": "meanwhile: both at once; left_right/right_left: one after the other",
    },
    "prompt": {"type": "string", "description": "style text"},
    "seed": {"type": "integer"},
}
_ERROR = {
    "type": "object",
    "required": ["error", "code"],
    "properties": {
        "error": {"type": "string"},
        "code": {"type": "string"},
        "field": {"type": ["string", "null"], "description": "e.g. formState.resolution"},
        "details": {"type": "array", "items": {"type": "object"}},
    },
}


def _form_schema(model: str) -> dict[str, Any]:
    spec = MODELS[model]
    fields = [*spec.required, *sorted(spec.optional)]
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(spec.required),
        "properties": {f: dict(_URL) if f in URL_FIELDS else _OPTIONAL[f] for f in fields},
    }


def _error_response(text: str) -> dict[str, Any]:
    return {
        "description": text,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def openapi_document(server_url: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for model in MODELS:
        paths[f"/api/v1/{model}"] = {
            "post": {
                "operationId": model.replace("-", "_"),
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": 255},
                        "description": "studio extension: a repeated POST with the same key "
                        "returns the original job",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["formState"],
                                "properties": {
                                    "webhook": {
                                        **_URL,
                                        "description": "https (http on loopback only)",
                                    },
                                    "formState": _form_schema(model),
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {
                        "description": "accepted",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Accepted"}
                            }
                        },
                    },
                    "400": _error_response("malformed request or envelope"),
                    "401": _error_response("missing or invalid API key"),
                    "422": _error_response("invalid formState"),
                    "429": _error_response("rate limited; honour Retry-After"),
                },
            }
        }
    paths["/api/v1/jobs/{requestId}"] = {
        "get": {
            "operationId": "get_job",
            "parameters": [
                {"name": "requestId", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "the job",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Job"}}
                    },
                },
                "401": _error_response("missing or invalid API key"),
                "404": _error_response("no such job for this key"),
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "lipsync.studio API (reference studio)", "version": "1"},
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "sk_<id>_<secret>"}
            },
            "schemas": {
                "Accepted": {
                    "type": "object",
                    "required": ["id", "status"],
                    "properties": {
                        "id": {"type": "string", "format": "uuid"},
                        "status": {"const": "processing"},
                    },
                },
                "Job": {
                    "type": "object",
                    "required": [
                        "id",
                        "model",
                        "status",
                        "output",
                        "error",
                        "executionTime",
                        "timings",
                    ],
                    "properties": {
                        "id": {"type": "string"},
                        "model": {
                            "type": "string",
                            "description": '"lipsync" while processing, then the endpoint',
                        },
                        "status": {
                            "type": "string",
                            "description": "processing | completed | failed (others may "
                            "appear: treat as not finished)",
                        },
                        "output": {"type": ["string", "null"], "format": "uri"},
                        "error": {"type": "string", "description": '"" when none'},
                        "executionTime": {"type": ["integer", "null"], "description": "ms"},
                        "timings": {"type": "null"},
                    },
                },
                "Error": _ERROR,
            },
        },
    }
