"""The hub's HTTP server: registry, token service and blob storage on one port."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
import socket
import ssl
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

from .faults import Faults
from .handler import RATE_LIMIT, LoggedRequest, RequestHandler
from .store import ImageStore, host_architecture
from .tls import REGISTRY_HOSTS, STORAGE_HOST, TOKEN_HOST, TlsFiles, make_tls_files
from .tokens import TokenService

logger = logging.getLogger("pytest_stages.hub")

# Seconds a signed storage URL stays valid.
STORAGE_URL_LIFETIME = 1200


class Hub:
    """Docker Hub's pull protocol for the images of `store`.

    Without `tls_dir` the hub speaks plain HTTP. With it, the hub writes a new
    certificate authority (`ca.pem`) and server certificate there and speaks
    HTTPS. In loopback mode the registry and token service listen on
    127.0.0.1:PORT and the blob storage on localhost:PORT. Otherwise requests
    are routed by Docker Hub's host names.
    """

    def __init__(
        self,
        store: ImageStore,
        tls_dir: Path | None = None,
        faults: Faults | None = None,
        loopback: bool = False,
        schema1: bool = True,
        token_actions: tuple[str, ...] = ("pull",),
        default_platform: str | None = None,
    ) -> None:
        self.store = store
        self.faults = faults if faults is not None else Faults()
        self.loopback = loopback
        self.schema1 = schema1
        self.token_actions = token_actions
        self.default_platform = default_platform or f"linux/{host_architecture()}"
        self.tokens = TokenService()
        self.tls: TlsFiles | None = make_tls_files(Path(tls_dir)) if tls_dir else None
        self.storage_secret = secrets.token_bytes(32)
        self.port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._log: list[LoggedRequest] = []
        self._pulls: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def ca_path(self) -> Path | None:
        return self.tls.ca if self.tls else None

    @property
    def requests_log(self) -> list[LoggedRequest]:
        """A copy of the requests served so far, oldest first."""
        with self._lock:
            return list(self._log)

    def clear_requests_log(self) -> None:
        with self._lock:
            self._log.clear()

    def registry_url(self) -> str:
        host = "127.0.0.1" if self.loopback else REGISTRY_HOSTS[0]
        return self._url(host)

    def realm(self) -> str:
        host = "127.0.0.1" if self.loopback else TOKEN_HOST
        return self._url(host) + "/token"

    def storage_url(self) -> str:
        host = "localhost" if self.loopback else STORAGE_HOST
        return self._url(host)

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Hub:
        """Listen on host:port (0 picks a free port) and serve in a thread."""
        server = _Server((host, port), RequestHandler)
        server.hub = self
        server.ssl_context = self.tls.server_context() if self.tls else None
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, name=f"hub-{self.port}", daemon=True
        )
        self._thread.start()
        logger.info(
            "hub started on %s:%d (%s, loopback=%s, schema1=%s)",
            host,
            self.port,
            self.scheme,
            self.loopback,
            self.schema1,
        )
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=10)
        logger.info("hub on port %d stopped", self.port)
        self._server = None

    def __enter__(self) -> Hub:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def role(self, host_header: str) -> str | None:
        """Return "registry", "token" or "storage" for a Host header, or None."""
        hostname = _hostname(host_header)
        if self.loopback:
            return {"127.0.0.1": "registry", "localhost": "storage"}.get(hostname)
        if hostname in REGISTRY_HOSTS:
            return "registry"
        if hostname == TOKEN_HOST:
            return "token"
        if hostname == STORAGE_HOST:
            return "storage"
        return None

    def sign_storage_path(self, path: str, now: float | None = None) -> str:
        expires = int((now or time.time()) + STORAGE_URL_LIFETIME)
        mac = hmac.new(
            self.storage_secret, f"{path}:{expires}".encode(), hashlib.sha256
        )
        return f"{expires}-{mac.hexdigest()[:32]}"

    def check_storage_signature(self, path: str, verify: str) -> bool:
        expires_text, _, _ = verify.partition("-")
        if not expires_text.isdigit() or int(expires_text) < time.time():
            return False
        expected = self.sign_storage_path(
            path, int(expires_text) - STORAGE_URL_LIFETIME
        )
        return hmac.compare_digest(expected, verify)

    def count_pull(self, client: str, counts: bool) -> int:
        """Return the remaining pulls of `client`, counting this one if `counts`."""
        with self._lock:
            used = self._pulls.get(client, 0) + (1 if counts else 0)
            self._pulls[client] = used
        return max(RATE_LIMIT - used, 0)

    def record(self, entry: LoggedRequest) -> None:
        with self._lock:
            self._log.append(entry)

    def _url(self, host: str) -> str:
        default_port = 443 if self.tls else 80
        port = "" if self.port == default_port else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: Hub
    ssl_context: ssl.SSLContext | None

    def server_activate(self) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().server_activate()

    def get_request(self):
        connection, address = super().get_request()
        if self.ssl_context is not None:
            # The handshake runs on first read, in the request's own thread.
            connection = self.ssl_context.wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
        with self.connections_lock:
            self.connections.add(connection)
        return connection, address

    def shutdown_request(self, request) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End the idle keep-alive connections, so no thread serves after a stop."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address) -> None:
        error = sys.exc_info()[1]
        # A client that goes away mid-request, such as a program killed by a
        # check's timeout, is normal; only other errors deserve a traceback.
        if isinstance(error, (ConnectionError, ssl.SSLError, TimeoutError)):
            logger.warning("connection of %s failed: %s", client_address[0], error)
            return
        logger.exception("error while serving %s", client_address[0])


def _hostname(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
