"""Debian's nginx running the shipped ``deploy/nginx.conf`` on loopback, for the deploy tests.

The shipped file is the template an operator edits: the test renders it by replacing exactly its
placeholder values (upstream address, listen addresses, certificate paths, log paths) and
nothing else, checking each appears as often as expected, so a test can never quietly run a
config other than the one shipped. It runs inside a main config that sets what Debian's
``/etc/nginx/nginx.conf`` sets at http level (gzip on, its TLS defaults), so the server block is
tested where it will live.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.processes import ROOT, free_port

SHIPPED = ROOT / "deploy" / "nginx.conf"
SHIPPED_UPSTREAM = "127.0.0.1:8000"
HOSTNAME = "connector.example.com"


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and the placeholder host name, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTNAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(HOSTNAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "fullchain.pem", directory / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_path, key_path


def render(shipped: str, replacements: dict[str, tuple[str, int]]) -> str:
    """Replace each placeholder value, which must occur exactly the expected number of times."""
    text = shipped
    for old, (new, expected) in replacements.items():
        found = text.count(old)
        if found != expected:
            raise AssertionError(f"deploy/nginx.conf: expected {expected}× {old!r}, found {found}")
        text = text.replace(old, new)
    return text


@dataclass
class Nginx:
    https_port: int
    http_port: int
    directory: Path
    cert: Path
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    @property
    def access_log(self) -> Path:
        return self.directory / "access.log"

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"


def main_config(directory: Path, site: Path) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read our temp dirs
    mime = "include /etc/nginx/mime.types;" if Path("/etc/nginx/mime.types").exists() else ""
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}daemon off;
worker_processes 1;
pid {directory / 'nginx.pid'};
error_log {directory / 'main-error.log'} warn;
events {{ worker_connections 1024; }}
http {{
    # What Debian's /etc/nginx/nginx.conf sets at this level.
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    {mime}
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    gzip on;
{temp}
    include {site};
}}
"""


def prepare(nginx_binary: str, directory: Path, upstream_port: int) -> tuple[Nginx, list[str]]:
    """Render the shipped config for loopback ports, check it with ``nginx -t``; the command to run it."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed_certificate(directory)
    server = Nginx(https_port=free_port(), http_port=free_port(), directory=directory, cert=cert)
    site = directory / "connector.conf"
    site.write_text(render(SHIPPED.read_text(), {
        f"server {SHIPPED_UPSTREAM};": (f"server 127.0.0.1:{upstream_port};", 1),
        "listen 443 ssl http2;": (f"listen 127.0.0.1:{server.https_port} ssl http2;", 1),
        "listen [::]:443 ssl http2;": ("", 1),
        "listen 80;": (f"listen 127.0.0.1:{server.http_port};", 1),
        "listen [::]:80;": ("", 1),
        "/etc/ssl/connector/fullchain.pem": (str(cert), 1),
        "/etc/ssl/connector/privkey.pem": (str(key), 1),
        "/var/log/nginx/connector.access.log": (str(server.access_log), 2),
        "/var/log/nginx/connector.error.log": (str(server.error_log), 1),
    }))
    main = directory / "nginx-main.conf"
    main.write_text(main_config(directory, site))
    command = [nginx_binary, "-p", str(directory), "-c", str(main), "-e", str(directory / "startup-error.log")]
    check = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise AssertionError(f"nginx -t refused the rendered deploy/nginx.conf:\n{check.stderr}")
    return server, command


def start(nginx_binary: str, directory: Path, upstream_port: int) -> Nginx:
    server, command = prepare(nginx_binary, directory, upstream_port)
    with (directory / "nginx.out").open("ab") as log:  # nginx writes to its own copy
        server.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(server.https_port, server.process)
    return server


def wait_port(port: int, process: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"nginx exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nginx did not listen on {port} within {timeout}s")


def stop(server: Nginx) -> None:
    if server.process is not None and server.process.poll() is None:
        server.process.terminate()  # nginx: SIGTERM is a fast shutdown
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(5)
