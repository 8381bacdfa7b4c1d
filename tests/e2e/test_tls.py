"""TLS and mutual TLS end to end, with certificates generated for the test."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from clients.admin import AdminClient
from clients.client import CampaignLiftClient, tls_credentials
from common.errors import FailedPrecondition
from feedback.store import Store
from server.runtime.app import start
from tests.conftest import promote_new, server_settings
from tests.e2e.helpers import user_request


def _write(
    path: Path, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> tuple[Path, Path]:
    key_path, cert_path = path.with_suffix(".key"), path.with_suffix(".pem")
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _cert(
    name: str,
    key,
    issuer_name: x509.Name,
    issuer_key,
    *,
    ca: bool,
    san: list[x509.GeneralName] | None = None,
):  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import ipaddress

    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "campaign-lift test CA")])
    ca_cert = _cert("campaign-lift test CA", ca_key, ca_name, ca_key, ca=True)
    ca_pem, _ = _write(d / "ca", ca_key, ca_cert)
    server_key = ec.generate_private_key(ec.SECP256R1())
    san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server_pem, server_keyfile = _write(
        d / "server", server_key, _cert("localhost", server_key, ca_name, ca_key, ca=False, san=san)
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_pem, client_keyfile = _write(
        d / "client", client_key, _cert("scorer", client_key, ca_name, ca_key, ca=False)
    )
    return {
        "ca": ca_pem,
        "server": server_pem,
        "server_key": server_keyfile,
        "client": client_pem,
        "client_key": client_keyfile,
    }


@pytest.fixture
def model(sqlite_store: Store, tmp_path: Path, trained_logreg) -> Iterator[None]:  # type: ignore[no-untyped-def]
    promote_new(sqlite_store, trained_logreg, tmp_path / "artifacts")
    yield


def test_tls_round_trip_and_plaintext_refused(
    sqlite_store: Store, tmp_path: Path, pki, model, world
) -> None:  # type: ignore[no-untyped-def]
    running = start(
        server_settings(
            sqlite_store,
            tmp_path,
            tls_cert_file=pki["server"],
            tls_key_file=pki["server_key"],
            admin_token="t",
        )
    )
    target = f"127.0.0.1:{running.port}"
    try:
        with CampaignLiftClient(target, credentials=tls_credentials(pki["ca"])) as client:
            assert client.score(user_request(world, 0)).decision.decision_id
        with AdminClient(target, "t", credentials=tls_credentials(pki["ca"])) as admin:
            assert admin.list_versions()
        with CampaignLiftClient(target, timeout_s=2) as plain, pytest.raises(grpc.RpcError) as err:
            plain.score(user_request(world, 0))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop()


def test_mutual_tls_requires_a_client_certificate(
    sqlite_store: Store, tmp_path: Path, pki, model, world
) -> None:  # type: ignore[no-untyped-def]
    settings = server_settings(
        sqlite_store,
        tmp_path,
        tls_cert_file=pki["server"],
        tls_key_file=pki["server_key"],
        tls_client_ca_file=pki["ca"],
    )
    running = start(settings)
    target = f"127.0.0.1:{running.port}"
    try:
        with CampaignLiftClient(
            target, credentials=tls_credentials(pki["ca"], pki["client"], pki["client_key"])
        ) as client:
            assert client.score(user_request(world, 0)).decision.decision_id
        with (
            CampaignLiftClient(
                target, timeout_s=2, credentials=tls_credentials(pki["ca"])
            ) as anonymous,
            pytest.raises(grpc.RpcError) as err,
        ):
            anonymous.score(user_request(world, 0))
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        running.stop()


def test_incomplete_tls_settings_are_refused(sqlite_store: Store, tmp_path: Path, pki) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(FailedPrecondition, match="needs both tls_cert_file and tls_key_file"):
        start(server_settings(sqlite_store, tmp_path, tls_cert_file=pki["server"]))
    with pytest.raises(FailedPrecondition, match="cannot read a TLS file"):
        start(
            server_settings(
                sqlite_store,
                tmp_path,
                tls_cert_file=tmp_path / "no.pem",
                tls_key_file=tmp_path / "no.key",
            )
        )
