"""Request handling of the hub: routing by host, then registry, token or storage."""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from . import manifests as m
from .faults import Fault
from .tokens import DEFAULT_LIFETIME, Access, TokenError, grants, parse_scope

logger = logging.getLogger("pytest_stages.hub")

RATE_LIMIT = 100
RATE_LIMIT_WINDOW = 21600
API_VERSION_HEADER = ("Docker-Distribution-Api-Version", "registry/2.0")
_NAME = (
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_REPOSITORY_PATH = re.compile(
    rf"^/v2/(?P<name>{_NAME})/(?P<kind>manifests|blobs)/(?P<reference>[^/]+)$"
)
_TAGS_PATH = re.compile(rf"^/v2/(?P<name>{_NAME})/tags/list$")
_STORAGE_PATH = re.compile(
    r"^/registry-v2/docker/registry/v2/blobs/sha256/[0-9a-f]{2}/(?P<hex>[0-9a-f]{64})/data$"
)
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass(frozen=True)
class LoggedRequest:
    """One request the hub served, kept so checks can explain a client's mistakes.

    `note` gives the reason for the response, such as "no bearer token" or
    "served application/vnd.oci.image.index.v1+json".
    """

    method: str
    host: str
    path: str
    query: str
    status: int
    authorization: bool
    accept: str
    client: str
    time: float
    note: str = ""


class RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pytest-stages-hub"
    # Seconds an idle keep-alive connection may hold a thread.
    timeout = 60
    # A request line that fails to parse gets its error response from
    # http.server's send_error before _serve runs, so it is logged, not recorded.
    recorded = True

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args) -> None:
        logger.debug("%s %s", self.client_address[0], format % args)

    def send_response(self, code: int, message: str | None = None) -> None:
        self.status = code
        super().send_response(code, message)

    def end_headers(self) -> None:
        # Recorded before the headers leave, so a client that has its response
        # always finds its request in the log.
        self._record()
        super().end_headers()

    # Dispatch

    def _serve(self) -> None:
        self.hub = self.server.hub
        self.status = 0
        self.note = ""
        self.recorded = False
        url = urlsplit(self.path)
        self.url_path = url.path
        self.url_query = url.query
        self.query = parse_qs(url.query)
        try:
            self._discard_body()
            self._route()
        except (ConnectionError, ssl.SSLError, TimeoutError) as error:
            logger.warning("connection of %s failed: %s", self.client_address[0], error)
            self.close_connection = True
        except Exception:
            logger.exception("failed to respond to %s %s", self.command, self.path)
            if not self.status:
                self._json_error(500, "UNKNOWN", "internal error of the hub")
            self.close_connection = True
        finally:
            # A request that got no response at all is recorded with status 0.
            self._record()

    def _route(self) -> None:
        role = self.hub.role(self.headers.get("Host", ""))
        fault = self.hub.faults.take("status", self.url_path)
        if fault is not None:
            self._fault_status(fault)
        elif role is None:
            self.note = "unknown host"
            self._json_error(
                404, "NAME_UNKNOWN", f"unknown host {self.headers.get('Host')!r}"
            )
        elif self.command not in ("GET", "HEAD"):
            self.note = "only pulls are supported"
            self._json_error(405, "UNSUPPORTED", "the hub only supports pulls")
        elif role == "storage":
            self._storage()
        elif role == "token" or (self.hub.loopback and self.url_path == "/token"):
            self._token()
        else:
            self._registry()

    def _fault_status(self, fault: Fault) -> None:
        self.note = f"fault {fault.status}"
        headers = {}
        if fault.status == 429:
            headers["Retry-After"] = str(fault.retry_after)
            message = (
                "You have reached your pull rate limit (planned by the hub's faults)."
            )
            self._json_error(429, "TOOMANYREQUESTS", message, headers=headers)
        else:
            self._json_error(fault.status, "UNAVAILABLE", "planned by the hub's faults")

    # Token service

    def _token(self) -> None:
        if self.url_path != "/token":
            self._json_error(404, "NOT_FOUND", "the token service serves /token only")
            return
        service = self.query.get("service", [""])[0]
        if service and service != self.hub.tokens.service:
            self.note = f"wrong service {service!r}"
            self._send_json(400, {"details": f"invalid service {service!r}"})
            return
        access = []
        for scope in self.query.get("scope", []):
            for item in scope.split():
                requested = parse_scope(item)
                if requested is not None:
                    actions = tuple(
                        a for a in requested.actions if a in self.hub.token_actions
                    )
                    access.append(Access(requested.type, requested.name, actions))
        lifetime = float(DEFAULT_LIFETIME)
        fault = self.hub.faults.take("token-expiry")
        if fault is not None:
            lifetime = fault.seconds
            self.note = f"token expires after {lifetime} s"
        self._send_json(200, self.hub.tokens.issue(access, lifetime))

    # Registry

    def _registry(self) -> None:
        if self.url_path in ("/v2/", "/v2"):
            if self._authorize(None) is not None:
                self._send_json(200, {})
            return
        match = _REPOSITORY_PATH.match(self.url_path) or _TAGS_PATH.match(self.url_path)
        if match is None:
            self.note = "unknown path"
            self._json_error(
                404, "NOT_FOUND", f"no registry endpoint at {self.url_path}"
            )
            return
        name = match.group("name")
        if self._authorize(name) is None:
            return
        repository = self.hub.store.repositories.get(name)
        if repository is None:
            self.note = f"repository {name} does not exist"
            self._challenge(name, "insufficient_scope")
            return
        kind = match.groupdict().get("kind")
        if kind == "manifests":
            self._manifest(repository, match.group("reference"))
        elif kind == "blobs":
            self._blob_redirect(repository, match.group("reference"))
        else:
            self._send_json(200, {"name": name, "tags": sorted(repository.tags)})

    def _authorize(self, name: str | None) -> dict | None:
        """Return the verified claims, or send a 401 challenge and return None."""
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            self.note = "no bearer token"
            self._challenge(name, None)
            return None
        try:
            claims = self.hub.tokens.verify(token.strip())
        except TokenError as error:
            self.note = f"invalid token: {error}"
            self._challenge(name, "invalid_token")
            return None
        if name is not None and not grants(claims, name, "pull"):
            self.note = f"token does not grant pull on {name}"
            self._challenge(name, "insufficient_scope")
            return None
        return claims

    def _challenge(self, name: str | None, error: str | None) -> None:
        challenge = (
            f'Bearer realm="{self.hub.realm()}",service="{self.hub.tokens.service}"'
        )
        detail = None
        if name is not None:
            challenge += f',scope="repository:{name}:pull"'
            detail = [
                {"Type": "repository", "Class": "", "Name": name, "Action": "pull"}
            ]
        if error:
            challenge += f',error="{error}"'
        self._json_error(
            401,
            "UNAUTHORIZED",
            "authentication required",
            detail=detail,
            headers={"WWW-Authenticate": challenge},
        )

    def _manifest(self, repository, reference: str) -> None:
        if reference.startswith("sha256:"):
            manifest = repository.manifests.get(reference)
            if manifest is None:
                self.note = f"unknown manifest digest {reference}"
                self._json_error(
                    404,
                    "MANIFEST_UNKNOWN",
                    "manifest unknown",
                    f"unknown digest={reference}",
                )
                return
        else:
            tag = repository.tags.get(reference)
            if tag is None:
                self.note = f"unknown tag {reference}"
                self._json_error(
                    404,
                    "MANIFEST_UNKNOWN",
                    "manifest unknown",
                    f"unknown tag={reference}",
                )
                return
            accepted = m.accepted_types(self.headers.get_all("Accept") or [])
            manifest = tag.choose(accepted, self.hub.default_platform, self.hub.schema1)
            if manifest is None:
                self.note = "schema 1 requested but turned off"
                message = (
                    "schema 1 manifests are no longer supported; accept "
                    f"{m.OCI_INDEX} or {m.DOCKER_MANIFEST}"
                )
                self._json_error(404, "MANIFEST_UNKNOWN", message)
                return
        self.note = f"served {manifest.media_type}"
        headers = {
            "Docker-Content-Digest": manifest.digest,
            "ETag": f'"{manifest.digest}"',
            **self._rate_limit_headers(),
        }
        self._send(200, manifest.content, manifest.media_type, headers)

    def _rate_limit_headers(self) -> dict[str, str]:
        client = self.client_address[0]
        remaining = self.hub.count_pull(client, counts=self.command == "GET")
        return {
            "ratelimit-limit": f"{RATE_LIMIT};w={RATE_LIMIT_WINDOW}",
            "ratelimit-remaining": f"{remaining};w={RATE_LIMIT_WINDOW}",
            "docker-ratelimit-source": client,
        }

    def _blob_redirect(self, repository, digest: str) -> None:
        if digest not in repository.blobs:
            self.note = f"unknown blob {digest}"
            if digest in repository.manifests:
                # A client that took an index or manifest entry for a layer.
                self.note = f"blob request for the manifest {digest}"
            self._json_error(404, "BLOB_UNKNOWN", "blob unknown to registry", digest)
            return
        hex_digest = digest.partition(":")[2]
        path = f"/registry-v2/docker/registry/v2/blobs/sha256/{hex_digest[:2]}/{hex_digest}/data"
        location = (
            f"{self.hub.storage_url()}{path}?verify={self.hub.sign_storage_path(path)}"
        )
        self.note = "redirected to storage"
        self._send(307, b"", "text/html; charset=utf-8", {"Location": location})

    # Storage

    def _storage(self) -> None:
        if "Authorization" in self.headers:
            self.note = "Authorization header sent to storage"
            message = (
                "Only one auth mechanism allowed: the signed query or the "
                "Authorization header, not both."
            )
            self._xml_error(400, "InvalidArgument", message)
            return
        match = _STORAGE_PATH.match(self.url_path)
        if match is None:
            self.note = "unknown storage path"
            self._xml_error(404, "NoSuchKey", "The specified key does not exist.")
            return
        verify = self.query.get("verify", [""])[0]
        if not self.hub.check_storage_signature(self.url_path, verify):
            self.note = "missing, invalid or expired storage signature"
            self._xml_error(
                403, "AccessDenied", "Request signature is missing, invalid or expired."
            )
            return
        path = self.hub.store.blob_path("sha256:" + match.group("hex"))
        if not path.is_file():
            self.note = "blob not in store"
            self._xml_error(404, "NoSuchKey", "The specified key does not exist.")
            return
        self._send_blob(path, match.group("hex"))

    def _send_blob(self, path, hex_digest: str) -> None:
        size = path.stat().st_size
        start, end = 0, size - 1
        status = 200
        headers = {"ETag": f'"{hex_digest}"', "Accept-Ranges": "bytes"}
        requested = _RANGE.match(self.headers.get("Range", ""))
        if requested and int(requested.group(1)) < size:
            start = int(requested.group(1))
            end = min(int(requested.group(2) or size - 1), size - 1)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = end - start + 1
        cut = None
        if self.command == "GET":
            cut = self.hub.faults.take("cut", self.url_path)
        limit = length // 2 if cut is not None else length
        if cut is not None:
            self.note = f"connection cut after {limit} of {length} bytes"

        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        self._copy_file(path, start, limit)
        if cut is not None:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True

    def _copy_file(self, path, start: int, length: int) -> None:
        # socket.sendfile copies in the kernel (os.sendfile) on a plain socket
        # and falls back to a read and send loop on a TLS socket.
        self.wfile.flush()
        with open(path, "rb") as blob:
            self.connection.sendfile(blob, offset=start, count=length)

    # Responses

    def _json_error(
        self,
        status: int,
        code: str,
        message: str,
        detail=None,
        headers: dict | None = None,
    ) -> None:
        error = {"code": code, "message": message, "detail": detail}
        self._send_json(status, {"errors": [error]}, headers)

    def _xml_error(self, status: int, code: str, message: str) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        )
        self._send(status, body.encode(), "application/xml")

    def _send_json(self, status: int, value, headers: dict | None = None) -> None:
        body = json.dumps(value).encode()
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.hub.role(self.headers.get("Host", "")) == "registry":
            self.send_header(*API_VERSION_HEADER)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _discard_body(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _record(self) -> None:
        if self.recorded:
            return
        self.recorded = True
        entry = LoggedRequest(
            method=self.command,
            host=self.headers.get("Host", ""),
            path=self.url_path,
            query=self.url_query,
            status=self.status,
            authorization="Authorization" in self.headers,
            accept=", ".join(self.headers.get_all("Accept") or []),
            client=self.client_address[0],
            time=time.time(),
            note=self.note,
        )
        self.hub.record(entry)
