"""The HTTP contract: response shapes, auth, validation, idempotency, stats, assets."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from studio_helpers import AUTH, KEY, StartStudio, submit, wait_job

from lipsync_pipeline.studio import StudioConfig

JOB_KEYS = {"id", "model", "status", "output", "error", "executionTime", "timings"}


def image_form(root: str, **extra: Any) -> dict[str, Any]:
    return {"image": f"{root}/assets/face.png", "audio": f"{root}/assets/a.wav", **extra}


async def test_api_doc_example_shapes(start: StartStudio) -> None:
    root = await start(render_delay=0.4)
    async with httpx.AsyncClient(base_url=root, headers=AUTH) as client:
        body = {"webhook": "https://127.0.0.1:9/hook", "formState": image_form(root)}
        response = await client.post("/api/v1/lipsync-image", json=body)
        assert response.status_code == 200
        accepted = response.json()
        assert set(accepted) == {"id", "status"} and accepted["status"] == "processing"
        processing = (await client.get(f"/api/v1/jobs/{accepted['id']}")).json()
        assert processing == {
            "id": accepted["id"],
            "model": "lipsync",
            "status": "processing",
            "output": None,
            "error": "",
            "executionTime": None,
            "timings": None,
        }
        done = await wait_job(client, accepted["id"])
        assert set(done) == JOB_KEYS
        assert done["model"] == "lipsync-image" and done["status"] == "completed"
        assert done["error"] == "" and done["timings"] is None
        assert done["output"].startswith(f"{root}/outputs/")
        assert isinstance(done["executionTime"], int) and done["executionTime"] >= 400


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer nope", "Basic sk_a_b", "Bearer sk_only", "Bearer sk__x"]
)
async def test_missing_or_malformed_key_is_401(root: str, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    async with httpx.AsyncClient(base_url=root, headers=headers) as client:
        for response in (
            await client.post("/api/v1/lipsync-image", json={"formState": image_form(root)}),
            await client.get("/api/v1/jobs/123"),
        ):
            assert response.status_code == 401
            assert response.json()["field"] == "Authorization"
            assert "sk_" not in response.json()["error"].replace("sk_…", "")


async def test_restricted_keys(start: StartStudio) -> None:
    root = await start(api_keys=frozenset({KEY}))
    async with httpx.AsyncClient(base_url=root) as client:
        other = {"Authorization": "Bearer sk_other_secret"}
        assert (await client.get("/api/v1/jobs/x", headers=other)).status_code == 401
        assert (await client.get("/api/v1/jobs/x", headers=AUTH)).status_code == 404


async def test_another_keys_job_is_not_found(root: str, client: httpx.AsyncClient) -> None:
    job_id = await submit(client, "lipsync-image", image_form(root))
    other = {"Authorization": "Bearer sk_someone_else"}
    response = await client.get(f"/api/v1/jobs/{job_id}", headers=other)
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert (await client.get(f"/api/v1/jobs/{job_id}")).status_code == 200


@pytest.mark.parametrize(
    ("model", "body", "status", "field"),
    [
        ("lipsync-image", b"{not json", 400, None),
        ("lipsync-image", b"[1, 2]", 400, None),
        ("lipsync-image", {}, 400, "formState"),
        ("lipsync-image", {"formState": "x"}, 400, "formState"),
        ("lipsync-image", {"formState": {}, "extra": 1}, 400, "extra"),
        ("lipsync-image", {"formState": {}, "webhook": "http://example.com/h"}, 400, "webhook"),
        ("lipsync-image", {"formState": {"audio": "{A}"}}, 422, "formState.image"),
        ("lipsync-image", {"formState": {"image": 5, "audio": "{A}"}}, 422, "formState.image"),
        (
            "lipsync-image",
            {"formState": {"image": "file:///etc/passwd", "audio": "{A}"}},
            422,
            "formState.image",
        ),
        (
            "lipsync-image",
            {"formState": {"image": "{I}", "audio": "{A}", "resolution": "1080p"}},
            422,
            "formState.resolution",
        ),
        (
            "lipsync-image",
            {"formState": {"image": "{I}", "audio": "{A}", "seed": "7"}},
            422,
            "formState.seed",
        ),
        (
            "lipsync-image",
            {"formState": {"image": "{I}", "audio": "{A}", "seed": True}},
            422,
            "formState.seed",
        ),
        (
            "lipsync-image",
            {"formState": {"image": "{I}", "audio": "{A}", "order": "meanwhile"}},
            422,
            "formState.order",
        ),
        (
            "lipsync-image-multi",
            {
                "formState": {
                    "image": "{I}",
                    "left_audio": "{A}",
                    "right_audio": "{A}",
                    "order": "sideways",
                }
            },
            422,
            "formState.order",
        ),
        (
            "lipsync-image-multi",
            {
                "formState": {
                    "image": "{I}",
                    "left_audio": "{A}",
                    "right_audio": "{A}",
                    "mask_image": "{I}",
                }
            },
            422,
            "formState.mask_image",
        ),
        (
            "lipsync-video",
            {"formState": {"video": "{I}", "audio": "{A}", "prompt": 3}},
            422,
            "formState.prompt",
        ),
    ],
)
async def test_validation_names_the_field(
    root: str, client: httpx.AsyncClient, model: str, body: Any, status: int, field: str | None
) -> None:
    if isinstance(body, dict):
        raw = httpx.Request("POST", "/", json=body).read().decode()
        raw = raw.replace("{A}", f"{root}/assets/a.wav").replace("{I}", f"{root}/assets/face.png")
        content = raw.encode()
    else:
        content = body
    response = await client.post(
        f"/api/v1/{model}", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    error = response.json()
    assert error["field"] == field and error["error"] and error["code"]


async def test_unknown_model_and_routes_are_json_404(client: httpx.AsyncClient) -> None:
    for response in (
        await client.post("/api/v1/lipsync-audio", json={"formState": {}}),
        await client.get("/nothing-here"),
    ):
        assert response.status_code == 404 and "error" in response.json()
    response = await client.delete("/api/v1/jobs/x")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"


async def test_idempotency_key(root: str, client: httpx.AsyncClient) -> None:
    form = image_form(root)
    headers = {"Idempotency-Key": "job-1:attempt"}
    first = await client.post("/api/v1/lipsync-image", json={"formState": form}, headers=headers)
    again = await client.post("/api/v1/lipsync-image", json={"formState": form}, headers=headers)
    assert first.json() == again.json() and again.headers["idempotent-replayed"] == "true"
    other_key = await client.post(
        "/api/v1/lipsync-image",
        json={"formState": form},
        headers={**headers, "Authorization": "Bearer sk_other_key"},
    )
    assert other_key.json()["id"] != first.json()["id"]
    changed = await client.post(
        "/api/v1/lipsync-image", json={"formState": {**form, "seed": 3}}, headers=headers
    )
    assert changed.status_code == 422 and changed.json()["field"] == "Idempotency-Key"
    stats = (await client.get("/_studio/stats")).json()
    assert stats["jobs_created"] == 2 and stats["idempotent_replays"] == 1


async def test_stats_counts_requests_and_credits(root: str, client: httpx.AsyncClient) -> None:
    job_id = await submit(client, "lipsync-image", image_form(root, resolution="720p"))
    await wait_job(client, job_id)
    await client.post("/api/v1/lipsync-image", json={})
    stats = (await client.get("/_studio/stats")).json()
    assert stats["jobs_created"] == 1
    assert stats["jobs_by_status"]["completed"] == 1
    assert stats["requests"]["POST"] == {"200": 1, "400": 1}
    assert stats["requests"]["GET"]["200"] >= 3  # polls and the studio's own asset downloads
    assert stats["credits_estimated"] == 20  # 1 s of audio, 5 s minimum, 720p
    assert "_studio" not in str(stats["requests"])


async def test_assets_are_read_only_and_contained(root: str, client: httpx.AsyncClient) -> None:
    assert (await client.get("/assets/face.png")).status_code == 200
    for path in ("/assets/%2e%2e/%2e%2e/etc/passwd", "/assets/..%2fconftest.py", "/assets/nope"):
        assert (await client.get(path)).status_code == 404
    assert (await client.put("/assets/face.png", content=b"x")).status_code == 405


async def test_openapi_describes_the_contract(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    assert {
        "/api/v1/lipsync-video",
        "/api/v1/lipsync-image",
        "/api/v1/lipsync-image-multi",
        "/api/v1/jobs/{requestId}",
    } <= set(doc["paths"])
    job = doc["components"]["schemas"]["Job"]
    assert set(job["required"]) == JOB_KEYS


def test_config_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        StudioConfig(workers=0)
