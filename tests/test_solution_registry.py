"""The reference solution's puller against a small registry on loopback.

The stub registry behaves like Docker Hub where it matters to a puller. It has a
401 challenge, a token service, and an OCI index with several platforms and an
attestation entry. It redirects blobs to a storage host (`localhost`, while the
registry is `127.0.0.1`) that rejects an Authorization header with 400. Faults
are switched on per test: a token that expires, a 429, a 503, a cut
connection, a blob whose content does not match its digest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from solution import registry

REPOSITORY = Path(__file__).resolve().parent.parent
SERVICE = "stub-registry"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layer(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(buffer.getvalue())


class StubRegistry:
    """Images, tokens and faults shared by the registry and storage handlers."""

    def __init__(self) -> None:
        self.manifests: dict[str, dict[str, tuple[str, bytes]]] = {}
        self.blobs: dict[str, bytes] = {}
        self.valid_tokens: set[str] = set()
        self.token_requests: list[dict[str, list[str]]] = []
        self.log: list[
            tuple[str, str, str | None]
        ] = []  # (server, path, Authorization)
        self.faults: set[str] = set()
        self.lock = threading.Lock()
        self.registry_url = ""
        self.storage_url = ""

    def add_blob(self, data: bytes) -> dict:
        digest = digest_of(data)
        self.blobs[digest] = data
        return {"digest": digest, "size": len(data)}

    def add_manifest(
        self, repository: str, media_type: str, body: dict, tag=None
    ) -> dict:
        data = json.dumps(body).encode()
        digest = digest_of(data)
        entries = self.manifests.setdefault(repository, {})
        entries[digest] = (media_type, data)
        if tag:
            entries[tag] = (media_type, data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def add_image(self, repository: str, layer_media_type: str, files: dict) -> dict:
        config = self.add_blob(
            json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        )
        layer = self.add_blob(make_layer(files))
        manifest_type = OCI_MANIFEST if "oci" in layer_media_type else DOCKER_MANIFEST
        body = {
            "schemaVersion": 2,
            "mediaType": manifest_type,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                **config,
            },
            "layers": [{"mediaType": layer_media_type, **layer}],
        }
        return self.add_manifest(repository, manifest_type, body)

    def consume_fault(self, name: str) -> bool:
        with self.lock:
            if name in self.faults:
                self.faults.discard(name)
                return True
            return False


def add_test_images(stub: StubRegistry) -> None:
    """Create the images: a multi-platform OCI image, a Docker one, a tampered one."""
    oci_layer = "application/vnd.oci.image.layer.v1.tar+gzip"
    amd64 = stub.add_image("library/multi", oci_layer, {"hello": b"hello from amd64\n"})
    arm64 = stub.add_image("library/multi", oci_layer, {"hello": b"hello from arm64\n"})
    attestation = stub.add_image("library/multi", oci_layer, {"sbom": b"{}"})
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {**attestation, "platform": {"architecture": "unknown", "os": "unknown"}},
            {**arm64, "platform": {"architecture": "arm64", "os": "linux"}},
            {**amd64, "platform": {"architecture": "amd64", "os": "linux"}},
        ],
    }
    stub.add_manifest("library/multi", OCI_INDEX, index, tag="latest")

    docker_layer = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    docker = stub.add_image("user/docker", docker_layer, {"etc/os": b"docker style\n"})
    docker_list = {
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [
            {**docker, "platform": {"architecture": "amd64", "os": "linux"}},
            {**docker, "platform": {"architecture": "arm64", "os": "linux"}},
        ],
    }
    stub.add_manifest("user/docker", DOCKER_LIST, docker_list, tag="v1")

    tampered = stub.add_image("library/tampered", oci_layer, {"a": b"original"})
    _, body = stub.manifests["library/tampered"][tampered["digest"]]
    layer_digest = json.loads(body)["layers"][0]["digest"]
    stub.blobs[layer_digest] = make_layer({"a": b"tampered"})
    stub.manifests["library/tampered"]["latest"] = (OCI_MANIFEST, body)


class RegistryHandler(BaseHTTPRequestHandler):
    stub: StubRegistry

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_body(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        authorization = self.headers.get("Authorization")
        self.stub.log.append(("registry", url.path, authorization))
        if url.path == "/token":
            self.issue_token(parse_qs(url.query))
            return
        parts = url.path.split("/")
        # /v2/<repository...>/<manifests|blobs>/<reference>
        kind, reference = parts[-2], parts[-1]
        repository = "/".join(parts[2:-2])
        if self.stub.consume_fault("server_error"):
            self.send_body(503, b"try later")
            return
        if not self.authorized(repository, authorization, reference):
            return
        if kind == "manifests":
            self.send_manifest(repository, reference)
        elif kind == "blobs":
            self.redirect_blob(reference)
        else:
            self.send_body(404, b"unknown endpoint")

    def issue_token(self, query: dict[str, list[str]]) -> None:
        self.stub.token_requests.append(query)
        token = os.urandom(8).hex()
        if "deny" not in self.stub.faults:
            self.stub.valid_tokens.add(token)
        key = "access_token" if "access_token" in self.stub.faults else "token"
        self.send_body(200, json.dumps({key: token}).encode())

    def authorized(
        self, repository: str, authorization: str | None, reference: str
    ) -> bool:
        token = (authorization or "").removeprefix("Bearer ")
        valid = token in self.stub.valid_tokens
        if (
            valid
            and reference.startswith("sha256:")
            and self.stub.consume_fault("expire")
        ):
            self.stub.valid_tokens.clear()
            valid = False
        if valid:
            return True
        realm = f"{self.stub.registry_url}/token"
        challenge = (
            f'Bearer realm="{realm}",service="{SERVICE}",'
            f'scope="repository:{repository}:pull"'
        )
        self.send_body(401, b'{"errors":[]}', {"WWW-Authenticate": challenge})
        return False

    def send_manifest(self, repository: str, reference: str) -> None:
        entry = self.stub.manifests.get(repository, {}).get(reference)
        if entry is None:
            self.send_body(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
            return
        media_type, body = entry
        self.send_body(200, body, {"Content-Type": media_type})

    def redirect_blob(self, digest: str) -> None:
        if self.stub.consume_fault("rate_limit"):
            self.send_body(429, b"slow down", {"Retry-After": "0"})
            return
        location = f"{self.stub.storage_url}/storage/{digest}"
        self.send_body(307, b"", {"Location": location})


class StorageHandler(RegistryHandler):
    """The blob storage host, which rejects any Authorization header like S3 does."""

    def do_GET(self) -> None:
        authorization = self.headers.get("Authorization")
        self.stub.log.append(("storage", self.path, authorization))
        if authorization:
            self.send_body(400, b"Only one auth mechanism allowed")
            return
        blob = self.stub.blobs.get(self.path.rsplit("/", 1)[-1])
        if blob is None:
            self.send_body(404, b"no such blob")
            return
        if self.stub.consume_fault("cut"):
            self.send_response(200)
            self.send_header("Content-Length", str(len(blob)))
            self.end_headers()
            self.wfile.write(blob[: len(blob) // 2])
            self.close_connection = True
            return
        self.send_body(200, blob)


def start_server(handler: type, host: str, stub: StubRegistry) -> ThreadingHTTPServer:
    handler_class = type(handler.__name__, (handler,), {"stub": stub})
    server = ThreadingHTTPServer((host, 0), handler_class)
    server.daemon_threads = True
    # A short poll interval makes shutdown() at teardown return quickly.
    serve = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    serve.start()
    return server


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[StubRegistry]:
    stub = StubRegistry()
    registry_server = start_server(RegistryHandler, "127.0.0.1", stub)
    storage_server = start_server(StorageHandler, "127.0.0.1", stub)
    registry_host = f"127.0.0.1:{registry_server.server_address[1]}"
    stub.registry_url = f"http://{registry_host}"
    stub.storage_url = f"http://localhost:{storage_server.server_address[1]}"
    add_test_images(stub)
    monkeypatch.setenv(registry.INSECURE_REGISTRIES_VARIABLE, registry_host)
    for proxy in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    yield stub
    registry_server.shutdown()
    storage_server.shutdown()
    registry_server.server_close()
    storage_server.server_close()


def image_name(stub: StubRegistry, repository: str) -> str:
    return f"{urlsplit(stub.registry_url).netloc}/{repository}"


def pull(stub: StubRegistry, repository: str, root: Path, **platform: str) -> None:
    options = {"architecture": "amd64", "variant": "", **platform}
    registry.pull_image(image_name(stub, repository), str(root), **options)


def test_pull_multi_platform_image(stub: StubRegistry, tmp_path: Path) -> None:
    pull(stub, "library/multi", tmp_path)

    assert (tmp_path / "hello").read_text() == "hello from amd64\n"
    assert not (tmp_path / "sbom").exists()
    assert len(stub.token_requests) == 1
    assert stub.token_requests[0]["scope"] == ["repository:library/multi:pull"]
    assert stub.token_requests[0]["service"] == [SERVICE]


def test_storage_gets_no_authorization(stub: StubRegistry, tmp_path: Path) -> None:
    pull(stub, "library/multi", tmp_path)

    storage = [entry for entry in stub.log if entry[0] == "storage"]
    blob_requests = [e for e in stub.log if e[0] == "registry" and "/blobs/" in e[1]]
    assert len(storage) == 1
    assert storage[0][2] is None
    assert all(entry[2] for entry in blob_requests)


def test_arm64_without_variant_picked(stub: StubRegistry, tmp_path: Path) -> None:
    pull(stub, "library/multi", tmp_path, architecture="arm64", variant="v8")

    assert (tmp_path / "hello").read_text() == "hello from arm64\n"


def test_attestation_entry_never_picked() -> None:
    index = {
        "manifests": [
            {
                "digest": "sha256:att",
                "platform": {"os": "unknown", "architecture": "unknown"},
            },
            {
                "digest": "sha256:v7",
                "platform": {"os": "linux", "architecture": "arm", "variant": "v7"},
            },
            {
                "digest": "sha256:arm64",
                "platform": {"os": "linux", "architecture": "arm64"},
            },
        ]
    }

    assert registry.select_manifest(index, "arm64", "v8")["digest"] == "sha256:arm64"
    assert registry.select_manifest(index, "arm", "v7")["digest"] == "sha256:v7"
    with pytest.raises(registry.PullError, match="linux/unknown/unknown|no manifest"):
        registry.select_manifest(index, "unknown")
    with pytest.raises(registry.PullError, match="no manifest for linux/amd64"):
        registry.select_manifest(index, "amd64")


def test_docker_manifest_list(stub: StubRegistry, tmp_path: Path) -> None:
    pull(stub, "user/docker:v1", tmp_path)

    assert (tmp_path / "etc" / "os").read_text() == "docker style\n"


def test_access_token_field_accepted(stub: StubRegistry, tmp_path: Path) -> None:
    stub.faults.add("access_token")

    pull(stub, "library/multi", tmp_path)

    assert (tmp_path / "hello").is_file()


def test_expired_token_refreshed(stub: StubRegistry, tmp_path: Path) -> None:
    stub.faults.add("expire")

    pull(stub, "library/multi", tmp_path)

    assert "expire" not in stub.faults
    assert len(stub.token_requests) == 2
    assert (tmp_path / "hello").is_file()


def test_rate_limit_retried(
    stub: StubRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stub.faults.add("rate_limit")

    pull(stub, "library/multi", tmp_path)

    assert "rate_limit" not in stub.faults
    assert (tmp_path / "hello").is_file()
    assert "returned 429, retry in 0.0s" in capsys.readouterr().err


def test_server_error_retried(
    stub: StubRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stub.faults.add("server_error")

    pull(stub, "library/multi", tmp_path)

    assert (tmp_path / "hello").is_file()
    assert "returned 503, retry" in capsys.readouterr().err


def test_cut_download_retried(
    stub: StubRegistry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stub.faults.add("cut")

    pull(stub, "library/multi", tmp_path)

    assert "cut" not in stub.faults
    assert (tmp_path / "hello").read_text() == "hello from amd64\n"
    assert "retry" in capsys.readouterr().err


def test_wrong_digest_rejected(stub: StubRegistry, tmp_path: Path) -> None:
    _, body = stub.manifests["library/tampered"]["latest"]
    layer_digest = json.loads(body)["layers"][0]["digest"]

    with pytest.raises(
        registry.PullError, match=f"blob {layer_digest} digest mismatch"
    ):
        pull(stub, "library/tampered", tmp_path)
    assert not (tmp_path / "a").exists()


def test_denied_token_rejected(stub: StubRegistry, tmp_path: Path) -> None:
    stub.faults.add("deny")

    with pytest.raises(registry.PullError, match="denied"):
        pull(stub, "library/multi", tmp_path)


def test_missing_image_rejected(stub: StubRegistry, tmp_path: Path) -> None:
    with pytest.raises(registry.PullError, match=r"not found.*\(404\)"):
        pull(stub, "library/absent", tmp_path)


def test_refused_connection_is_unreachable(tmp_path: Path) -> None:
    with pytest.raises(registry.RegistryUnreachable, match="Connection refused"):
        registry.pull_image("127.0.0.1:1/library/any", str(tmp_path))


@pytest.mark.parametrize(
    ("image", "host", "repository", "reference"),
    [
        ("alpine", "registry-1.docker.io", "library/alpine", "latest"),
        ("docker.io/alpine:3.20", "registry-1.docker.io", "library/alpine", "3.20"),
        ("user/repo:tag", "registry-1.docker.io", "user/repo", "tag"),
        ("localhost/app", "localhost", "app", "latest"),
        ("host.example:5000/team/app:1", "host.example:5000", "team/app", "1"),
        (
            "app@sha256:" + "a" * 64,
            "registry-1.docker.io",
            "library/app",
            "sha256:" + "a" * 64,
        ),
    ],
)
def test_reference_parsed(
    image: str, host: str, repository: str, reference: str
) -> None:
    parsed = registry.parse_reference(image)

    assert parsed.host == host
    assert parsed.repository == repository
    assert parsed.reference == reference


def test_invalid_reference_rejected() -> None:
    with pytest.raises(registry.PullError, match="invalid image name"):
        registry.parse_reference("Upper/Case")


def test_insecure_registries_use_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(registry.INSECURE_REGISTRIES_VARIABLE, "a:1, b:2")

    assert registry.parse_reference("b:2/x").scheme == "http"
    assert registry.parse_reference("c:3/x").scheme == "https"


def test_challenge_parsed_with_quoted_commas() -> None:
    header = (
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:a/b:pull,push", error="insufficient_scope",note="say \\"hi\\""'
    )

    scheme, params = registry.parse_challenge(header)

    assert scheme == "bearer"
    assert params["realm"] == "https://auth.example/token"
    assert params["service"] == "registry.example"
    assert params["scope"] == "repository:a/b:pull,push"
    assert params["error"] == "insufficient_scope"
    assert params["note"] == 'say "hi"'


def run_program(
    stub: StubRegistry, image: str, *command: str
) -> subprocess.CompletedProcess:
    environment = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    environment[registry.INSECURE_REGISTRIES_VARIABLE] = urlsplit(
        stub.registry_url
    ).netloc
    return subprocess.run(
        [sys.executable, "-m", "solution", "run", image, *command],
        cwd=REPOSITORY,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and chroot need root")
@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static")
def test_program_runs_pulled_image(stub: StubRegistry) -> None:
    result = run_program(
        stub, image_name(stub, "library/multi"), "/bin/busybox", "cat", "/hello"
    )

    assert result.returncode == 0
    assert (
        result.stdout == "hello from amd64\n" or result.stdout == "hello from arm64\n"
    )
    assert result.stderr == ""


def test_program_exits_1_on_pull_error(stub: StubRegistry) -> None:
    result = run_program(stub, image_name(stub, "library/absent"), "/bin/true")

    assert result.returncode == 1
    assert result.stdout == ""
    assert "cannot pull" in result.stderr
    assert "404" in result.stderr
