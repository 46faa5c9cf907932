"""TLS for the simulators: a throwaway certificate authority made at start (trustme), a server
certificate for loopback signed by it, and client certificates for Entra app registrations.

azure-identity only talks to an ``https://`` authority, so the F&O and Business Central simulators,
which are also the sandbox's Entra tenant, serve HTTPS with a certificate from this authority. The
app trusts it through ``D365_CA_BUNDLE`` (the PEM file ``ca_bundle``), a setting nothing sets in Azure.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
from pathlib import Path

HOSTS = ("127.0.0.1", "localhost", "::1")


class SandboxCA:
    """A certificate authority and a loopback server certificate, written as PEM files under ``directory``.

    Args:
        directory: where the files go (default: a fresh temporary directory, removed by ``close``).
    """

    def __init__(self, directory: Path | None = None) -> None:
        import trustme

        self._owned = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix="hl365-tls-")) if directory is None else directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.ca_bundle = self.directory / "ca.pem"
        self.server_cert = self.directory / "server.pem"
        self.server_key = self.directory / "server.key"
        ca_key = self.directory / "ca.key"
        if self.ca_bundle.is_file() and ca_key.is_file():  # a kept directory: every simulator shares one authority
            self._ca = trustme.CA.from_pem(self.ca_bundle.read_bytes(), ca_key.read_bytes())
        else:
            self._ca = trustme.CA(organization_name="hl365 sandbox")
            self._ca.cert_pem.write_to_path(str(self.ca_bundle))
            self._ca.private_key_pem.write_to_path(str(ca_key))
        server = self._ca.issue_cert(*HOSTS)
        server.private_key_pem.write_to_path(str(self.server_key))
        self.server_cert.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))

    def client_certificate(self, name: str) -> tuple[Path, bytes]:
        """A certificate for an app registration: the PEM file holding its private key and certificate (what
        ``D365_CLIENT_CERTIFICATE_PATH`` names), and the certificate alone (what the app registration holds)."""
        import trustme

        # RSA: Entra (and MSAL, which signs the assertion with RS256 or PS256) takes RSA certificates only.
        leaf = self._ca.issue_cert(f"{name}.hl365.invalid", common_name=name, key_type=trustme.KeyType.RSA)
        path = self.directory / f"{name}.pem"
        leaf.private_key_and_cert_chain_pem.write_to_path(str(path))
        return path, leaf.cert_chain_pems[0].bytes()

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts this authority only."""
        return ssl.create_default_context(cafile=str(self.ca_bundle))

    def close(self) -> None:
        if self._owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> SandboxCA:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
