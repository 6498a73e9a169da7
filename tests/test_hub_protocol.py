"""The hub's pull protocol, driven with requests against a loopback hub."""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from peers import require_tool

from pytest_stages.hub import Faults, Hub, build_images, default_specs
from pytest_stages.hub import manifests as m

SERVICE = "registry.docker.io"
ALPINE = "library/alpine"


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    busybox = Path(require_tool("busybox"))
    return build_images(default_specs(), busybox, 11, tmp_path_factory.mktemp("images"))


@pytest.fixture
def hub(store):
    with Hub(store, loopback=True).start() as running:
        yield running


@pytest.fixture
def session():
    with requests.Session() as client:
        yield client


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def get_token(hub: Hub, *scopes: str) -> str:
    params = [("service", SERVICE)] + [("scope", scope) for scope in scopes]
    response = requests.get(hub.realm(), params=params, timeout=10)
    response.raise_for_status()
    return response.json()["token"]


def pull_headers(hub: Hub, repository: str = ALPINE, accept: str | None = None) -> dict:
    headers = {
        "Authorization": f"Bearer {get_token(hub, f'repository:{repository}:pull')}"
    }
    if accept is not None:
        headers["Accept"] = accept
    return headers


def manifest_url(hub: Hub, reference: str, repository: str = ALPINE) -> str:
    return f"{hub.registry_url()}/v2/{repository}/manifests/{reference}"


def blob_url(hub: Hub, digest: str, repository: str = ALPINE) -> str:
    return f"{hub.registry_url()}/v2/{repository}/blobs/{digest}"


def fetch(hub, reference="latest", accept=None, repository=ALPINE, method="GET"):
    headers = pull_headers(hub, repository, accept)
    return requests.request(
        method, manifest_url(hub, reference, repository), headers=headers, timeout=10
    )


# The challenge and the token service


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_base_challenge(hub, method):
    response = requests.request(method, f"{hub.registry_url()}/v2/", timeout=10)

    assert response.status_code == 401
    expected = f'Bearer realm="{hub.realm()}",service="{SERVICE}"'
    assert response.headers["WWW-Authenticate"] == expected
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    if method == "GET":
        assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_repository_challenge_has_scope(hub):
    response = requests.get(manifest_url(hub, "latest"), timeout=10)

    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert challenge == (
        f'Bearer realm="{hub.realm()}",service="{SERVICE}",'
        f'scope="repository:{ALPINE}:pull"'
    )
    error = response.json()["errors"][0]
    assert error["code"] == "UNAUTHORIZED"
    assert error["detail"][0]["Name"] == ALPINE


def test_realm_is_https_on_default_hosts(store, tmp_path):
    hub = Hub(store, tls_dir=tmp_path)
    hub.port = 443

    assert hub.realm() == "https://auth.docker.io/token"
    assert hub.storage_url() == "https://production.cloudflare.docker.com"


def test_token_fields(hub):
    before = time.time()
    response = requests.get(
        hub.realm(),
        params={"service": SERVICE, "scope": f"repository:{ALPINE}:pull"},
        timeout=10,
    )

    body = response.json()
    assert response.status_code == 200
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    issued_at = datetime.datetime.fromisoformat(
        body["issued_at"].replace("Z", "+00:00")
    )
    assert abs(issued_at.timestamp() - before) < 5
    assert body["issued_at"].endswith("Z")


def test_token_is_rs256_jwt(hub):
    header_part, claims_part, signature_part = get_token(
        hub, f"repository:{ALPINE}:pull"
    ).split(".")
    header = json.loads(b64url_decode(header_part))
    claims = json.loads(b64url_decode(claims_part))

    assert header["alg"] == "RS256"
    assert header["kid"] == hub.tokens.key_id
    certificate = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    certificate.public_key().verify(
        b64url_decode(signature_part),
        f"{header_part}.{claims_part}".encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    assert claims["iss"] == "auth.docker.io"
    assert claims["aud"] == SERVICE
    assert claims["sub"] == ""
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] <= claims["iat"]
    assert len(claims["jti"]) >= 16
    assert claims["access"] == [
        {"type": "repository", "name": ALPINE, "actions": ["pull"]}
    ]


def test_token_with_several_scopes(hub):
    token = get_token(
        hub, f"repository:{ALPINE}:pull", "repository:library/ubuntu:pull,push"
    )
    claims = json.loads(b64url_decode(token.split(".")[1]))

    assert claims["access"] == [
        {"type": "repository", "name": ALPINE, "actions": ["pull"]},
        {"type": "repository", "name": "library/ubuntu", "actions": ["pull"]},
    ]


def test_token_for_wrong_service(hub):
    response = requests.get(hub.realm(), params={"service": "example.com"}, timeout=10)

    assert response.status_code == 400


def test_base_with_token(hub):
    token = get_token(hub)

    response = requests.get(
        f"{hub.registry_url()}/v2/",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert response.status_code == 200
    assert response.json() == {}


def test_wrong_scope_rejected(hub):
    token = get_token(hub, "repository:library/ubuntu:pull")

    response = requests.get(
        manifest_url(hub, "latest"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert response.status_code == 401
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert f'scope="repository:{ALPINE}:pull"' in response.headers["WWW-Authenticate"]
    assert hub.requests_log[-1].note == f"token does not grant pull on {ALPINE}"


def test_forged_token_rejected(hub):
    header, claims, signature = get_token(hub, f"repository:{ALPINE}:pull").split(".")
    document = json.loads(b64url_decode(claims))
    document["access"][0]["name"] = "library/ubuntu"
    forged_claims = base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=")
    forged = f"{header}.{forged_claims.decode()}.{signature}"

    response = requests.get(
        manifest_url(hub, "latest", "library/ubuntu"),
        headers={"Authorization": f"Bearer {forged}"},
        timeout=10,
    )

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert hub.requests_log[-1].note == "invalid token: invalid signature"


def test_basic_authorization_rejected(hub):
    response = requests.get(
        manifest_url(hub, "latest"), auth=("student", "secret"), timeout=10
    )

    assert response.status_code == 401
    assert hub.requests_log[-1].authorization


def test_expired_token_rejected(hub):
    hub.faults.expire_next_token(1)
    headers = pull_headers(hub)
    assert requests.get(manifest_url(hub, "latest"), headers=headers, timeout=10).ok

    time.sleep(2.1)
    response = requests.get(manifest_url(hub, "latest"), headers=headers, timeout=10)

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert hub.requests_log[-1].note == "invalid token: the token has expired"
    assert requests.get(
        manifest_url(hub, "latest"), headers=pull_headers(hub), timeout=10
    ).ok


def test_token_of_other_hub_rejected(store, hub):
    with Hub(store, loopback=True).start() as other:
        token = get_token(other, f"repository:{ALPINE}:pull")

    response = requests.get(
        manifest_url(hub, "latest"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert response.status_code == 401


# Names, tags and manifests


def test_name_without_library_is_unknown(hub):
    response = fetch(hub, repository="alpine", accept=m.OCI_INDEX)

    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert 'scope="repository:alpine:pull"' in challenge
    assert 'error="insufficient_scope"' in challenge
    error = response.json()["errors"][0]
    assert error["code"] == "UNAUTHORIZED"
    assert error["detail"] == [
        {"Type": "repository", "Class": "", "Name": "alpine", "Action": "pull"}
    ]


def test_unknown_tag(hub):
    response = fetch(hub, "no-such-tag", accept=m.OCI_INDEX)

    assert response.status_code == 404
    error = response.json()["errors"][0]
    assert error["code"] == "MANIFEST_UNKNOWN"
    assert error["detail"] == "unknown tag=no-such-tag"


def test_unknown_digest(hub):
    response = fetch(hub, "sha256:" + "0" * 64, accept=m.OCI_INDEX)

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


ALL_V2 = ", ".join(m.V2_TYPES)
ACCEPT_CASES = [
    (m.OCI_INDEX, m.OCI_INDEX),
    (m.DOCKER_LIST, m.DOCKER_LIST),
    (f"{m.DOCKER_LIST}, {m.OCI_INDEX}", m.OCI_INDEX),
    (ALL_V2, m.OCI_INDEX),
    (f"{m.DOCKER_MANIFEST}, {m.DOCKER_LIST}", m.DOCKER_LIST),
    (m.DOCKER_MANIFEST, m.DOCKER_MANIFEST),
    (m.OCI_MANIFEST, m.OCI_MANIFEST),
    (f"{m.DOCKER_MANIFEST};q=0.9, {m.OCI_MANIFEST}", m.DOCKER_MANIFEST),
    (None, m.SCHEMA1_SIGNED),
    ("*/*", m.SCHEMA1_SIGNED),
    (m.SCHEMA1, m.SCHEMA1_SIGNED),
    (f"{m.SCHEMA1_SIGNED}, {m.SCHEMA1}", m.SCHEMA1_SIGNED),
    ("application/json", m.SCHEMA1_SIGNED),
]


@pytest.mark.parametrize(("accept", "expected"), ACCEPT_CASES)
def test_accept_negotiation(hub, accept, expected):
    response = fetch(hub, accept=accept)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == expected
    if expected in (m.DOCKER_MANIFEST, m.OCI_MANIFEST):
        config_digest = response.json()["config"]["digest"]
        config = json.loads(hub.store.blob_path(config_digest).read_bytes())
        assert config["architecture"] == "amd64"
    if expected == m.SCHEMA1_SIGNED:
        assert response.json()["architecture"] == "amd64"


def test_accept_headers_separate(hub):
    connection = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
    connection.putrequest("GET", f"/v2/{ALPINE}/manifests/latest")
    connection.putheader("Authorization", pull_headers(hub)["Authorization"])
    # Docker Engine sends one Accept header per media type.
    connection.putheader("Accept", m.DOCKER_MANIFEST)
    connection.putheader("Accept", m.DOCKER_LIST)
    connection.endheaders()
    response = connection.getresponse()
    response.read()
    connection.close()

    assert response.status == 200
    assert response.getheader("Content-Type") == m.DOCKER_LIST
    assert hub.requests_log[-1].accept == f"{m.DOCKER_MANIFEST}, {m.DOCKER_LIST}"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (ALL_V2, m.DOCKER_MANIFEST),
        (m.OCI_MANIFEST, m.OCI_MANIFEST),
        (m.OCI_INDEX, m.DOCKER_MANIFEST),
        (None, m.SCHEMA1_SIGNED),
    ],
)
def test_single_platform_negotiation(hub, accept, expected):
    response = fetch(hub, accept=accept, repository="stagescourse/layered")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == expected


def test_schema1_turned_off(store):
    with Hub(store, loopback=True, schema1=False).start() as hub:
        response = fetch(hub, accept=None)
        modern = fetch(hub, accept=m.OCI_INDEX)

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    assert "schema 1" in response.json()["errors"][0]["message"]
    assert modern.status_code == 200


@pytest.mark.parametrize("index_type", [m.OCI_INDEX, m.DOCKER_LIST])
def test_index_entries(hub, index_type):
    index = fetch(hub, accept=index_type).json()
    platform_type = m.OCI_MANIFEST if index_type == m.OCI_INDEX else m.DOCKER_MANIFEST

    assert index["mediaType"] == index_type
    platforms = [entry for entry in index["manifests"] if "annotations" not in entry]
    assert [entry["platform"] for entry in platforms] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux"},
    ]
    assert {entry["mediaType"] for entry in platforms} == {platform_type}
    attestations = [entry for entry in index["manifests"] if "annotations" in entry]
    assert len(attestations) == 2
    for attestation, subject in zip(attestations, platforms, strict=True):
        assert attestation["platform"] == {"architecture": "unknown", "os": "unknown"}
        annotations = attestation["annotations"]
        assert annotations["vnd.docker.reference.type"] == "attestation-manifest"
        assert annotations["vnd.docker.reference.digest"] == subject["digest"]


def test_every_entry_by_digest(hub):
    for index_type in (m.OCI_INDEX, m.DOCKER_LIST):
        for entry in fetch(hub, accept=index_type).json()["manifests"]:
            response = fetch(hub, entry["digest"], accept=ALL_V2)

            assert response.status_code == 200
            assert response.headers["Content-Type"] == entry["mediaType"]
            assert response.headers["Docker-Content-Digest"] == entry["digest"]
            assert len(response.content) == entry["size"]
            assert (
                "sha256:" + hashlib.sha256(response.content).hexdigest()
                == entry["digest"]
            )


def test_arm64_manifest_has_arm64_config(hub):
    index = fetch(hub, accept=m.OCI_INDEX).json()
    arm64 = next(
        e for e in index["manifests"] if e["platform"]["architecture"] == "arm64"
    )

    manifest = fetch(hub, arm64["digest"], accept=m.OCI_MANIFEST).json()

    config = json.loads(hub.store.blob_path(manifest["config"]["digest"]).read_bytes())
    assert config["architecture"] == "arm64"


@pytest.mark.parametrize("accept", [m.OCI_INDEX, m.DOCKER_MANIFEST, None])
def test_manifest_headers(hub, accept):
    response = fetch(hub, accept=accept)
    digest = response.headers["Docker-Content-Digest"]

    assert response.headers["Content-Length"] == str(len(response.content))
    assert response.headers["ETag"] == f'"{digest}"'
    if accept is not None:
        assert digest == "sha256:" + hashlib.sha256(response.content).hexdigest()


def test_head_matches_get(hub):
    got = fetch(hub, accept=m.OCI_INDEX)
    head = fetch(hub, accept=m.OCI_INDEX, method="HEAD")

    assert head.status_code == 200
    assert head.content == b""
    for name in ("Content-Type", "Content-Length", "Docker-Content-Digest", "ETag"):
        assert head.headers[name] == got.headers[name]


def test_schema1_signature_and_digest(hub):
    response = fetch(hub, accept=None)
    document = response.json()
    signature = document["signatures"][0]
    protected = json.loads(b64url_decode(signature["protected"]))
    payload = response.content[: protected["formatLength"]] + b64url_decode(
        protected["formatTail"]
    )
    jwk = signature["header"]["jwk"]
    public_key = ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url_decode(jwk["x"]), "big"),
        int.from_bytes(b64url_decode(jwk["y"]), "big"),
        ec.SECP256R1(),
    ).public_key()
    raw = b64url_decode(signature["signature"])
    encoded_payload = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    signing_input = f"{signature['protected']}.{encoded_payload}"

    assert signature["header"]["alg"] == "ES256"
    public_key.verify(
        encode_dss_signature(
            int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        ),
        signing_input.encode(),
        ec.ECDSA(hashes.SHA256()),
    )
    assert response.headers["Docker-Content-Digest"] == (
        "sha256:" + hashlib.sha256(payload).hexdigest()
    )
    assert "signatures" not in json.loads(payload)


def test_schema1_layers_newest_first(hub):
    schema1 = fetch(hub, accept=None).json()
    schema2 = fetch(hub, accept=m.DOCKER_MANIFEST).json()

    blob_sums = [layer["blobSum"] for layer in schema1["fsLayers"]]
    assert blob_sums == [layer["digest"] for layer in reversed(schema2["layers"])]
    history = [json.loads(entry["v1Compatibility"]) for entry in schema1["history"]]
    assert len(history) == len(blob_sums)
    assert history[0]["architecture"] == "amd64"
    for newer, older in zip(history, history[1:], strict=False):
        assert newer["parent"] == older["id"]
    assert "parent" not in history[-1]
    assert schema1["name"] == ALPINE
    assert schema1["tag"] == "latest"


# Blobs and storage


def layer_digest(hub, repository=ALPINE) -> str:
    return fetch(hub, accept=m.DOCKER_MANIFEST, repository=repository).json()["layers"][
        0
    ]["digest"]


def test_blob_redirects_to_storage(hub):
    digest = layer_digest(hub)

    response = requests.get(
        blob_url(hub, digest),
        headers=pull_headers(hub),
        allow_redirects=False,
        timeout=10,
    )

    assert response.status_code == 307
    location = response.headers["Location"]
    hex_digest = digest.split(":")[1]
    expected_prefix = (
        f"http://localhost:{hub.port}/registry-v2/docker/registry/v2/blobs/sha256/"
        f"{hex_digest[:2]}/{hex_digest}/data?verify="
    )
    assert location.startswith(expected_prefix)


def test_blob_head_redirects(hub):
    response = requests.head(
        blob_url(hub, layer_digest(hub)), headers=pull_headers(hub), timeout=10
    )

    assert response.status_code == 307


def test_storage_serves_blob(hub):
    digest = layer_digest(hub)
    location = requests.get(
        blob_url(hub, digest),
        headers=pull_headers(hub),
        allow_redirects=False,
        timeout=10,
    ).headers["Location"]

    response = requests.get(location, timeout=10)

    assert response.status_code == 200
    assert "sha256:" + hashlib.sha256(response.content).hexdigest() == digest
    assert response.headers["Content-Length"] == str(len(response.content))
    assert response.headers["Content-Type"] == "application/octet-stream"


def test_requests_follows_redirect_without_authorization(hub):
    digest = layer_digest(hub)

    response = requests.get(
        blob_url(hub, digest), headers=pull_headers(hub), timeout=10
    )

    assert response.status_code == 200
    assert "sha256:" + hashlib.sha256(response.content).hexdigest() == digest
    storage = hub.requests_log[-1]
    assert storage.host == f"localhost:{hub.port}"
    assert not storage.authorization


def test_storage_rejects_authorization(hub):
    location = requests.get(
        blob_url(hub, layer_digest(hub)),
        headers=pull_headers(hub),
        allow_redirects=False,
        timeout=10,
    ).headers["Location"]

    response = requests.get(location, headers={"Authorization": "Bearer x"}, timeout=10)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/xml"
    assert b"<Code>InvalidArgument</Code>" in response.content
    assert hub.requests_log[-1].note == "Authorization header sent to storage"


@pytest.mark.parametrize("query", ["", "?verify=1-abc", "?verify=99999999999-0000"])
def test_storage_requires_signed_query(hub, query):
    digest = layer_digest(hub).split(":")[1]
    url = (
        f"http://localhost:{hub.port}/registry-v2/docker/registry/v2/blobs/sha256/"
        f"{digest[:2]}/{digest}/data{query}"
    )

    response = requests.get(url, timeout=10)

    assert response.status_code == 403
    assert b"<Code>AccessDenied</Code>" in response.content


def test_storage_range(hub):
    digest = layer_digest(hub)
    location = requests.get(
        blob_url(hub, digest),
        headers=pull_headers(hub),
        allow_redirects=False,
        timeout=10,
    ).headers["Location"]
    whole = requests.get(location, timeout=10).content

    response = requests.get(location, headers={"Range": "bytes=10-19"}, timeout=10)

    assert response.status_code == 206
    assert response.content == whole[10:20]
    assert response.headers["Content-Range"] == f"bytes 10-19/{len(whole)}"


def test_unknown_blob(hub):
    response = requests.get(
        blob_url(hub, "sha256:" + "1" * 64), headers=pull_headers(hub), timeout=10
    )

    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_manifest_digest_as_blob(hub):
    entry = fetch(hub, accept=m.OCI_INDEX).json()["manifests"][0]

    response = requests.get(
        blob_url(hub, entry["digest"]), headers=pull_headers(hub), timeout=10
    )

    assert response.status_code == 404
    assert (
        hub.requests_log[-1].note == f"blob request for the manifest {entry['digest']}"
    )


def test_blob_of_other_repository(hub):
    digest = fetch(
        hub, accept=m.DOCKER_MANIFEST, repository="stagescourse/layered"
    ).json()["layers"][-1]["digest"]

    response = requests.get(
        blob_url(hub, digest), headers=pull_headers(hub), timeout=10
    )

    assert response.status_code == 404


def test_blob_needs_token(hub):
    response = requests.get(blob_url(hub, layer_digest(hub)), timeout=10)

    assert response.status_code == 401


# Rate-limit headers and the request log


def test_rate_limit_headers(hub):
    first = fetch(hub, accept=m.OCI_INDEX)
    head = fetch(hub, accept=m.OCI_INDEX, method="HEAD")
    second = fetch(hub, accept=m.OCI_INDEX)

    assert first.headers["ratelimit-limit"] == "100;w=21600"
    assert first.headers["ratelimit-remaining"] == "99;w=21600"
    assert head.headers["ratelimit-remaining"] == "99;w=21600"
    assert second.headers["ratelimit-remaining"] == "98;w=21600"
    assert first.headers["docker-ratelimit-source"] == "127.0.0.1"


def test_request_log(hub):
    hub.clear_requests_log()
    fetch(hub, accept=m.OCI_INDEX)

    token_request, manifest_request = hub.requests_log
    assert token_request.path == "/token"
    assert not token_request.authorization
    assert manifest_request.method == "GET"
    assert manifest_request.host == f"127.0.0.1:{hub.port}"
    assert manifest_request.path == f"/v2/{ALPINE}/manifests/latest"
    assert manifest_request.status == 200
    assert manifest_request.authorization
    assert manifest_request.accept == m.OCI_INDEX
    assert manifest_request.note == f"served {m.OCI_INDEX}"


def test_unsupported_method(hub):
    response = requests.post(
        f"{hub.registry_url()}/v2/{ALPINE}/blobs/uploads/", data=b"x", timeout=10
    )

    assert response.status_code == 405


# Faults


def test_fault_429(hub):
    hub.faults.too_many_requests(count=2, path="/manifests/", retry_after=7)
    headers = pull_headers(hub, accept=m.OCI_INDEX)

    responses = [
        requests.get(manifest_url(hub, "latest"), headers=headers, timeout=10)
        for _ in range(3)
    ]

    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["Retry-After"] == "7"
    assert responses[0].json()["errors"][0]["code"] == "TOOMANYREQUESTS"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_fault_server_error(hub, status):
    hub.faults.server_error(status, count=1, path="^/token$")

    failed = requests.get(hub.realm(), params={"service": SERVICE}, timeout=10)
    again = requests.get(hub.realm(), params={"service": SERVICE}, timeout=10)

    assert failed.status_code == status
    assert again.status_code == 200


def test_fault_path_must_match(hub):
    hub.faults.server_error(500, count=1, path="/blobs/")

    response = fetch(hub, accept=m.OCI_INDEX)

    assert response.status_code == 200
    assert len(hub.faults.pending) == 1


def test_fault_cut_blob(hub):
    digest = layer_digest(hub)
    hub.faults.cut_blobs(1)

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(blob_url(hub, digest), headers=pull_headers(hub), timeout=10)
    response = requests.get(
        blob_url(hub, digest), headers=pull_headers(hub), timeout=10
    )

    assert response.status_code == 200
    assert "sha256:" + hashlib.sha256(response.content).hexdigest() == digest
    cut = [
        entry for entry in hub.requests_log if entry.note.startswith("connection cut")
    ]
    assert len(cut) == 1


def test_faults_set_at_start(store):
    faults = Faults()
    faults.server_error(502, count=1, path="")
    with Hub(store, loopback=True, faults=faults).start() as hub:
        first = requests.get(f"{hub.registry_url()}/v2/", timeout=10)
        second = requests.get(f"{hub.registry_url()}/v2/", timeout=10)

    assert first.status_code == 502
    assert second.status_code == 401


# Routing by host name and TLS


@pytest.fixture
def named_hub(store):
    with Hub(store).start() as running:
        yield running


def test_routing_by_host(named_hub):
    base = f"http://127.0.0.1:{named_hub.port}"

    registry = requests.get(
        f"{base}/v2/", headers={"Host": "registry-1.docker.io"}, timeout=10
    )
    token = requests.get(
        f"{base}/token",
        params={"service": SERVICE},
        headers={"Host": "auth.docker.io"},
        timeout=10,
    )
    token_on_registry = requests.get(
        f"{base}/token", headers={"Host": "index.docker.io"}, timeout=10
    )
    unknown = requests.get(f"{base}/v2/", headers={"Host": "example.com"}, timeout=10)

    assert registry.status_code == 401
    assert registry.headers["WWW-Authenticate"].startswith(
        f'Bearer realm="http://auth.docker.io:{named_hub.port}/token"'
    )
    assert token.status_code == 200
    assert token_on_registry.status_code == 404
    assert unknown.status_code == 404


def test_storage_host_redirect(named_hub):
    base = f"http://127.0.0.1:{named_hub.port}"
    scope = f"repository:{ALPINE}:pull"
    token = requests.get(
        f"{base}/token",
        params={"service": SERVICE, "scope": scope},
        headers={"Host": "auth.docker.io"},
        timeout=10,
    ).json()["token"]
    headers = {"Host": "registry.hub.docker.com", "Authorization": f"Bearer {token}"}
    manifest = requests.get(
        f"{base}/v2/{ALPINE}/manifests/latest",
        headers=headers | {"Accept": m.DOCKER_MANIFEST},
        timeout=10,
    ).json()

    redirect = requests.get(
        f"{base}/v2/{ALPINE}/blobs/{manifest['layers'][0]['digest']}",
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )

    location = redirect.headers["Location"]
    assert location.startswith(
        f"http://production.cloudflare.docker.com:{named_hub.port}/registry-v2/"
    )
    path = location.split(str(named_hub.port), 1)[1]
    blob = requests.get(
        f"{base}{path}",
        headers={"Host": "production.cloudflare.docker.com"},
        timeout=10,
    )
    assert blob.status_code == 200


def test_tls_with_session_ca(store, tmp_path):
    with Hub(store, tls_dir=tmp_path, loopback=True).start() as hub:
        trusted = requests.get(
            f"{hub.registry_url()}/v2/", verify=hub.ca_path, timeout=10
        )
        storage = requests.get(
            f"https://localhost:{hub.port}/", verify=hub.ca_path, timeout=10
        )
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{hub.registry_url()}/v2/", timeout=10)

    assert trusted.status_code == 401
    assert trusted.headers["WWW-Authenticate"].startswith(
        f'Bearer realm="https://127.0.0.1:{hub.port}/token"'
    )
    assert storage.status_code == 404
    assert (tmp_path / "ca.pem").exists()


def test_server_certificate_names(store, tmp_path):
    Hub(store, tls_dir=tmp_path)
    certificate = x509.load_pem_x509_certificates(
        (tmp_path / "server.pem").read_bytes()
    )[0]

    names = certificate.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value
    dns_names = set(names.get_values_for_type(x509.DNSName))
    assert {
        "registry-1.docker.io",
        "registry.hub.docker.com",
        "index.docker.io",
        "auth.docker.io",
        "production.cloudflare.docker.com",
        "localhost",
    } <= dns_names
    addresses = {str(address) for address in names.get_values_for_type(x509.IPAddress)}
    assert "127.0.0.1" in addresses


def test_parallel_pulls(hub):
    manifest = fetch(hub, accept=m.DOCKER_MANIFEST).json()
    digests = [layer["digest"] for layer in manifest["layers"]] * 4
    headers = pull_headers(hub)

    def download(digest):
        response = requests.get(blob_url(hub, digest), headers=headers, timeout=30)
        return "sha256:" + hashlib.sha256(response.content).hexdigest()

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(download, digests))

    assert results == digests


def test_stop_ends_keep_alive_connections(store):
    hub = Hub(store, loopback=True).start()
    with requests.Session() as client:
        assert client.get(f"{hub.registry_url()}/v2/", timeout=10).status_code == 401

        hub.stop()

        with pytest.raises(requests.ConnectionError):
            client.get(f"{hub.registry_url()}/v2/", timeout=5)
