"""A development certificate authority for the local gateway's HTTPS listener.

Handlers written after AWS's examples build their callback URL as `https://{domainName}/{stage}`.
To reach the local Management API that way, the gateway also serves TLS with a certificate from
a CA made on first run into a git-ignored folder, and the execution environments trust that CA
(on top of the usual roots). Nothing here is ever packaged or used outside the local stack.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class DevCertificates:
    ca: Path  # the CA certificate: what clients trust
    bundle: Path  # the usual roots plus the CA: AWS_CA_BUNDLE / SSL_CERT_FILE for workers
    certificate: Path  # the server's certificate chain
    key: Path  # the server's private key

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificate, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _default_roots() -> str:
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile):
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_text()
    try:
        import certifi  # botocore's own dependency chain usually brings it

        return Path(certifi.where()).read_text()
    except ImportError:
        return ""


def dev_certificates_ensure(folder: Path) -> DevCertificates:
    """The CA and server certificate in `folder`, made on first use (owner-only files)."""
    found = DevCertificates(
        ca=folder / "local-ca.pem",
        bundle=folder / "local-ca-bundle.pem",
        certificate=folder / "local-gateway.pem",
        key=folder / "local-gateway-key.pem",
    )
    if all(path.exists() for path in (found.ca, found.bundle, found.certificate, found.key)):
        return found
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("DynamoWave local development CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca.public_bytes(serialization.Encoding.PEM)
    server_pem = server.public_bytes(serialization.Encoding.PEM)
    found.key.touch(mode=0o600)
    found.key.write_bytes(_pem(server_key))
    found.certificate.write_bytes(server_pem + ca_pem)
    found.ca.write_bytes(ca_pem)
    found.bundle.write_text(_default_roots() + "\n" + ca_pem.decode())
    return found
