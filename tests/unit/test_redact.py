"""Redaction masks the secrets the process holds, and nothing that merely looks like one."""

from __future__ import annotations

import base64

import pytest

from lipsync_pipeline.errors import Secrets, redact, register_api_key, register_secret


@pytest.mark.parametrize(
    "text",
    [
        "task_01_welcome",
        "renders/mask_on_dialog.yaml:3:5: jobs[0].audio: missing",
        "https://cdn.example.com/desk_2_final.mp4?sig=abc",
        "`run --replace sk_intro_welcome` renders it again",
        "lipsync-pipeline/0.1 pipeline",
    ],
)
def test_text_shaped_like_a_key_is_left_alone(text: str) -> None:
    register_api_key("sk_local_pipeline")  # the built-in studio's: its "secret" is a word
    register_api_key("sk_unit_9f8e7d6c5b4a39281706")
    assert redact(text) == text


def test_a_registered_key_is_masked_whole_and_its_secret_part_alone() -> None:
    register_api_key("sk_unit_9f8e7d6c5b4a39281706")
    assert redact("Bearer sk_unit_9f8e7d6c5b4a39281706.") == "Bearer sk_***."
    assert redact("secret=9f8e7d6c5b4a39281706") == "secret=***"
    assert redact("a key given here", key="given") == "a key sk_*** here"


def test_longer_secrets_are_masked_before_the_shorter_ones_inside_them() -> None:
    secrets = Secrets()
    assert not secrets
    secrets.add("abcdefgh")
    secrets.add("xx-abcdefgh-yy", "<sig>")
    assert secrets.redact("1 xx-abcdefgh-yy 2 abcdefgh") == "1 <sig> 2 ***"
    assert secrets.found_in("..abcdefgh..") and not secrets.found_in("abcdefg")


def test_store_credentials_use_the_same_registry() -> None:
    register_secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", mask="<aws-secret>")
    assert redact("sig by wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY") == "sig by <aws-secret>"


def test_store_credentials_are_masked_once_a_store_is_opened(tmp_path: object) -> None:
    """A store's secret key and session token reach obstore only; if one ever shows up
    in a message (an echo from a server, a debug dump), it is masked like the API key."""
    from lipsync_pipeline.store import ObjectStore, parse_store_config

    secret, token = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY", "FQoGZXIvYXdzEXAMPLETOKEN1234"
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": secret,
           "AWS_SESSION_TOKEN": token, "AWS_REGION": "us-east-1"}
    ObjectStore(parse_store_config("s3://bucket/prefix"), env=env)  # no network
    shown = redact(f"denied for {secret} with {token}; key id AKIDEXAMPLE")
    assert secret not in shown and token not in shown
    assert "AKIDEXAMPLE" in shown  # an access key id is an identifier, not a secret


def test_a_value_too_short_to_be_a_credential_is_not_registered() -> None:
    """A dummy secret such as "s" must not turn every later message into noise."""
    register_secret("s")
    assert redact("this stays as it is") == "this stays as it is"


def test_azure_and_gcs_credentials_are_masked_once_such_a_store_is_opened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from lipsync_pipeline.store import ObjectStore, parse_store_config

    account_key = base64.b64encode(b"a storage account key, 48 bytes long: 0123456789").decode()
    # Azure and GCS read their settings from the process environment themselves.
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "teamrenders")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_KEY", account_key)
    ObjectStore(parse_store_config("az://renders/lipsync"))  # no network
    assert account_key not in redact(f"refused with {account_key}")


def test_only_our_own_presigned_signatures_are_masked() -> None:
    """Ours are credentials; a provider's presigned output link must stay as it is, or
    the render it points at could never be downloaded."""
    from lipsync_pipeline.errors import register_signature

    ours = "https://b.example/in.wav?X-Amz-Date=1&X-Amz-Signature=0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    theirs = "https://cdn.example/out.mp4?X-Amz-Signature=ffeeddccbbaa99887766554433221100"
    register_signature(ours)
    assert "0a1b2c3d4e5f" not in redact(f"echo {ours}") and "X-Amz-Date=1" in redact(ours)
    assert redact(theirs) == theirs
