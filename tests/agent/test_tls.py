"""HTTPS: the server serves with --tls-cert/--tls-key; the agent verifies it against
--ca-file, refuses a certificate of another CA, and skips verification only with --insecure,
which it logs. The CA and the certificate are made here, for 127.0.0.1, and thrown away."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fleetscope.agent.http import StdlibTransport, tls_context
from tests.helpers import free_port, payload, payload_json
from tests.processes import FLEETSCOPE, credentials, running


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _ca(directory: Path, name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(_name(name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    (directory / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.pem, other-ca.pem, and server.pem + server.key signed by ca for 127.0.0.1."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = _ca(directory, "ca")
    _ca(directory, "other-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("fleetscope test server"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (directory / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return directory


def _wait_https(base: str, ca: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "server exited during start-up"
        try:
            if (
                httpx.get(
                    f"{base}/readyz", verify=ssl.create_default_context(cafile=ca), timeout=1
                ).status_code
                == 200
            ):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{base} not ready")


def test_server_over_tls_and_agent_verifying_it(pki: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    args = ["server", "--data-dir", str(data_dir), "--port", str(port)]
    args += ["--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")]
    with running(args, data_dir) as server:
        _wait_https(base, pki / "ca.pem", server)
        key = credentials(data_dir)["agent_api_key"]
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        body = payload_json(payload(1, hostname="over-tls", machine_id="m-tls"))

        verified = StdlibTransport(10, tls_context(pki / "ca.pem"))
        assert verified.post(f"{base}/api/v1/ingest", body, headers).status == 202
        verified.close()
        with pytest.raises(ssl.SSLCertVerificationError):
            StdlibTransport(10, tls_context(pki / "other-ca.pem")).post(
                f"{base}/api/v1/ingest", body, headers
            )
        with pytest.raises(ssl.SSLCertVerificationError):  # the system store knows no such CA
            StdlibTransport(10, tls_context()).post(f"{base}/api/v1/ingest", body, headers)
        insecure = StdlibTransport(10, tls_context(insecure=True))
        assert insecure.post(f"{base}/api/v1/ingest", body, headers).status == 202
        insecure.close()

        for flags, host in (
            (["--ca-file", str(pki / "ca.pem")], "agent-verified"),
            (["--insecure"], "agent-insecure"),
        ):
            agent = subprocess.run(
                [
                    *FLEETSCOPE,
                    "agent",
                    "--server",
                    base,
                    "--api-key",
                    key,
                    *flags,
                    "--data-dir",
                    str(tmp_path / host),
                    "--duration",
                    "2s",
                    "--interval",
                    "1s",
                ],
                capture_output=True,
                text=True,
                timeout=90,
                check=False,
                env={**os.environ, "FLEETSCOPE_HOSTNAME": host},
            )
            assert agent.returncode == 0, agent.stderr
            assert "upload failed" not in agent.stderr
            if "--insecure" in flags:
                assert "INSECURE: the certificate of" in agent.stderr
            else:
                assert "INSECURE" not in agent.stderr
        trust = ssl.create_default_context(cafile=pki / "ca.pem")
        login = httpx.post(
            f"{base}/api/v1/auth/login",
            json={"username": "admin", "password": credentials(data_dir)["admin_password"]},
            verify=trust,
        )
        token = {"Authorization": f"Bearer {login.json()['token']}"}
        hosts = httpx.get(f"{base}/api/v1/hosts", headers=token, verify=trust)
        names = {h["name"] for h in hosts.json()}
        # Both agents run on this machine: one machine id, one host, the last name reported.
        assert {"over-tls", "agent-insecure"} <= names
