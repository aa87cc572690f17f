# SPDX-License-Identifier: GPL-2.0-only
"""A throw-away certificate authority for the TLS tests, made with the openssl command.

make_ca(dir) writes, under dir:
  ca.pem / ca.key            the test CA that signs the servers' certificate
  server.pem / server.key    for "localhost" and 127.0.0.1 (subjectAltName), signed by the CA
  wrong_ca.pem               another CA, which signed nothing here: a client trusting only
                             it must refuse the servers
and returns a TestCA with their paths. Clients are pointed at ca.pem through the standard
SSL_CERT_FILE variable, which OpenSSL (and so rabbitmq-c and libmosquitto) reads.
"""
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class TestCA:
    dir: Path
    ca: Path
    server_cert: Path
    server_key: Path
    wrong_ca: Path


def _openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


def _self_signed_ca(cwd, name, subject):
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", subject,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=cwd)


def make_ca(directory):
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    _self_signed_ca(d, "ca", "/CN=sr test CA")
    _self_signed_ca(d, "wrong_ca", "/CN=sr wrong CA")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
             "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "server.ext").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "basicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem",
             cwd=d)
    for key in ("ca.key", "server.key", "wrong_ca.key"):
        (d / key).chmod(0o600)
    return TestCA(d, d / "ca.pem", d / "server.pem", d / "server.key", d / "wrong_ca.pem")
