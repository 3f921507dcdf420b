"""The server's memory under an oversized unauthenticated body: a 60 MiB
POST /api/v1/auth/login, once with Content-Length and once chunked, against a real
`fleetscope server` (uvicorn) on 127.0.0.1. Prints the answer and the server's resident size
(VmRSS) before and after, and its peak (VmHWM), from /proc/<pid>/status.

    python bench/bench_body_limit.py [--mib 60]

Issue 15 item 2 saw RSS go 118 MB -> 1.3 GB before the limit existed.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def memory(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            out[key] = int(value.split()[0]) // 1024
    return out


def body(mib: int) -> bytes:
    return b'{"username": "admin", "password": "' + b"p" * (mib * MIB) + b'"}'


def chunked(mib: int) -> Iterator[bytes]:
    yield b'{"username": "admin", "password": "'
    for _ in range(mib * 16):
        yield b"p" * (MIB // 16)
    yield b'"}'


def send(base: str, label: str, content: bytes | Iterator[bytes]) -> None:
    started = time.perf_counter()
    try:
        response = httpx.post(
            f"{base}/api/v1/auth/login",
            content=content,
            headers={"Content-Type": "application/json"},
            timeout=60,
        )
        answer = f"{response.status_code}, {len(response.content)} bytes: {response.text[:90]}"
    except httpx.HTTPError as exc:  # the server may close before the whole body is sent
        answer = f"connection ended by the server ({type(exc).__name__})"
    print(f"{label}: {answer} in {time.perf_counter() - started:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fleetscope.cli",
                "server",
                "--data-dir",
                tmp,
                "--port",
                str(port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "FLEETSCOPE_ADMIN_PASSWORD": "bench-password"},
        )
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
            before = memory(server.pid)
            print(f"server RSS before: {before['VmRSS']} MiB")
            send(base, f"{args.mib} MiB with Content-Length", body(args.mib))
            send(base, f"{args.mib} MiB chunked", chunked(args.mib))
            after = memory(server.pid)
            print(f"server RSS after: {after['VmRSS']} MiB, peak (VmHWM) {after['VmHWM']} MiB")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
