"""Pull an image from a registry that speaks the Docker Registry HTTP API v2.

The flow, as Docker Hub serves it:

1. Request the manifest. The registry returns 401 with a
   `WWW-Authenticate: Bearer realm=...,service=...,scope=...` challenge.
2. Fetch a token from the realm and repeat the request with
   `Authorization: Bearer TOKEN`.
3. If the manifest is an index (a list of per-platform manifests), pick the
   entry for this machine and fetch that manifest by digest.
4. Download each layer blob, following the redirect to the storage host by
   hand, check its digest and size, and extract it into the root.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from urllib3.exceptions import NewConnectionError

from solution import layers

DOCKER_HUB_NAMES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
DOCKER_HUB_API_HOST = "registry-1.docker.io"

# A comma-separated list of host:port registries to reach over plain http
# instead of https, for registries that run on loopback without TLS.
INSECURE_REGISTRIES_VARIABLE = "SOLUTION_INSECURE_REGISTRIES"

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = {OCI_INDEX, DOCKER_MANIFEST_LIST}
MANIFEST_TYPES = {OCI_MANIFEST, DOCKER_MANIFEST}
ACCEPT_MANIFESTS = ", ".join(
    [OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST]
)

# platform.machine() names mapped to the OCI architecture and variant names.
MACHINE_TO_PLATFORM = {
    "x86_64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "aarch64": ("arm64", "v8"),
    "arm64": ("arm64", "v8"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "ppc64le": ("ppc64le", ""),
    "s390x": ("s390x", ""),
    "riscv64": ("riscv64", ""),
}

MAX_ATTEMPTS = 4
MAX_RETRY_DELAY = 10.0  # seconds; a larger Retry-After is cut to this
MAX_REDIRECTS = 5
TIMEOUT = (10, 60)  # seconds: connect, then between two reads
CHUNK_SIZE = 1 << 16


class PullError(Exception):
    """The image could not be pulled; the message gives the reason."""


class RegistryUnreachable(PullError):
    """The registry host could not be reached at all (DNS or connection failed)."""


@dataclass(frozen=True)
class ImageReference:
    """A parsed image name: `alpine`, `user/repo:tag`, `host:5000/app@sha256:...`."""

    host: str  # host[:port] of the registry API
    repository: str  # e.g. library/alpine
    reference: str  # a tag or a digest

    @property
    def scheme(self) -> str:
        insecure = os.environ.get(INSECURE_REGISTRIES_VARIABLE, "")
        listed = {entry.strip() for entry in insecure.split(",") if entry.strip()}
        return "http" if self.host in listed else "https"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}/v2/{self.repository}"


def parse_reference(image: str) -> ImageReference:
    """Parse an image name the way `docker pull` does."""
    if not image or image != image.strip():
        raise PullError(f"invalid image name {image!r}")
    name, reference = image, "latest"
    if "@" in name:
        name, reference = name.split("@", 1)
    elif ":" in name.rsplit("/", 1)[-1]:
        name, reference = name.rsplit(":", 1)

    host = DOCKER_HUB_API_HOST
    first, _, rest = name.partition("/")
    # Like Docker, the first component is a registry host only when it looks
    # like one: it contains a dot or a port, or is `localhost`.
    if rest and ("." in first or ":" in first or first == "localhost"):
        host, name = first, rest
    if host in DOCKER_HUB_NAMES:
        host = DOCKER_HUB_API_HOST
        if "/" not in name:
            name = f"library/{name}"
    if not name or not reference or not re.fullmatch(r"[a-z0-9._/-]+", name):
        raise PullError(f"invalid image name {image!r}")
    return ImageReference(host=host, repository=name, reference=reference)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split a WWW-Authenticate header into its scheme and parameters.

    Values may be quoted strings, which can contain commas and backslash escapes.
    """
    scheme, _, rest = header.strip().partition(" ")
    pattern = re.compile(
        r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?'
    )
    params: dict[str, str] = {}
    position = 0
    while position < len(rest):
        match = pattern.match(rest, position)
        if not match or match.end() == position:
            break
        quoted, plain = match.group(2), match.group(3)
        value = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else plain
        params[match.group(1).lower()] = value
        position = match.end()
    return scheme.lower(), params


def connection_failure(error: requests.ConnectionError) -> str | None:
    """Describe why a host cannot be reached at all (DNS, refused), else None.

    None means the connection was made and then cut, which is worth a retry.
    """
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    if not isinstance(reason, NewConnectionError):
        return None
    # urllib3 raises NewConnectionError from the socket error, which has the
    # short text, e.g. "Temporary failure in name resolution".
    cause = reason.__cause__ or reason.__context__
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    return str(reason)


def log(message: str) -> None:
    # Diagnostics go to stderr only, because stdout belongs to the command.
    print(f"solution: {message}", file=sys.stderr, flush=True)


def retry_delay(response: requests.Response | None, attempt: int) -> float:
    """Return the wait before the next attempt: Retry-After if given, else backoff."""
    if response is not None:
        retry_after = response.headers.get("Retry-After", "")
        if retry_after.strip().isdigit():
            return min(float(retry_after), MAX_RETRY_DELAY)
    return min(0.5 * 2**attempt, MAX_RETRY_DELAY)


class RegistryClient:
    """A session with one repository of one registry, holding its bearer token."""

    def __init__(self, image: ImageReference, session: requests.Session | None = None):
        self.image = image
        # requests verifies TLS with its default CA bundle, or REQUESTS_CA_BUNDLE.
        self.session = session or requests.Session()
        self.token: str | None = None

    def get(self, path: str, accept: str | None = None) -> requests.Response:
        """GET a path under /v2/NAME/, authenticating and following redirects.

        The response is streamed; the caller reads or closes it.
        """
        url = f"{self.image.base_url}/{path}"
        headers = {"Accept": accept} if accept else {}
        token_fetched = False
        while True:
            response = self._send(url, headers, with_token=True)
            if response.status_code != 401:
                break
            # 401 means no token yet, or the token expired during the pull.
            # Fetch a new one once; a second 401 means access is denied.
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            if token_fetched:
                raise PullError(
                    f"access to {self.image.repository} denied by {self.image.host} "
                    f"(401 with a fresh token): check the image name"
                )
            self.token = self._fetch_token(challenge)
            token_fetched = True
        return self._follow_redirects(url, response, headers)

    def _follow_redirects(
        self, url: str, response: requests.Response, headers: dict[str, str]
    ) -> requests.Response:
        # Blob requests are redirected to a storage host (S3, a CDN) that
        # rejects a second credential, so the token is not sent there.
        # requests would resend it, so redirects are followed here by hand.
        for _ in range(MAX_REDIRECTS):
            if response.status_code not in (301, 302, 303, 307, 308):
                return self._check_status(url, response)
            location = response.headers.get("Location", "")
            response.close()
            if not location:
                raise PullError(f"redirect without a Location header from {url}")
            url = urljoin(url, location)
            response = self._send(url, headers, with_token=False)
        raise PullError(f"too many redirects, the last to {url}")

    def _check_status(self, url: str, response: requests.Response) -> requests.Response:
        if response.status_code == 200:
            return response
        detail = response.text[:200].strip()
        response.close()
        if response.status_code == 404:
            raise PullError(f"not found: {url} (404): check the image name and tag")
        raise PullError(f"GET {url} failed with {response.status_code}: {detail}")

    def _fetch_token(self, challenge: str) -> str:
        scheme, params = parse_challenge(challenge)
        if scheme != "bearer" or "realm" not in params:
            raise PullError(
                f"{self.image.host} requires authentication with an unsupported "
                f"challenge: {challenge!r}"
            )
        query = {
            "scope": params.get("scope") or f"repository:{self.image.repository}:pull"
        }
        if "service" in params:
            query["service"] = params["service"]
        response = self._send(params["realm"], {}, with_token=False, params=query)
        if response.status_code != 200:
            response.close()
            raise PullError(
                f"token request to {params['realm']} failed with {response.status_code}"
            )
        try:
            body = response.json()
        except ValueError as error:
            raise PullError(
                f"token response from {params['realm']} is not JSON"
            ) from error
        token = body.get("token") or body.get("access_token")
        if not token:
            raise PullError(f"token response from {params['realm']} has no token")
        return token

    def _send(
        self,
        url: str,
        headers: dict[str, str],
        with_token: bool,
        params: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send one GET, retrying rate limits, server errors and cut connections."""
        headers = dict(headers)
        if with_token and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in range(MAX_ATTEMPTS):
            last = attempt == MAX_ATTEMPTS - 1
            try:
                response = self.session.get(
                    url,
                    headers=headers,
                    params=params,
                    allow_redirects=False,
                    stream=True,
                    timeout=TIMEOUT,
                )
            except requests.ConnectionError as error:
                failure = connection_failure(error)
                if failure:
                    host = urlsplit(url).netloc
                    message = f"cannot reach {host}: {failure}"
                    raise RegistryUnreachable(message) from error
                if last:
                    raise PullError(f"GET {url} failed: {error}") from error
                delay = retry_delay(None, attempt)
                log(f"GET {url} failed ({error}), retry in {delay:.1f}s")
                time.sleep(delay)
                continue
            retryable = response.status_code == 429 or response.status_code >= 500
            if not retryable or last:
                return response
            delay = retry_delay(response, attempt)
            log(f"GET {url} returned {response.status_code}, retry in {delay:.1f}s")
            response.close()
            time.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns")

    def fetch_manifest(self, reference: str) -> tuple[str, dict]:
        """Return the media type and JSON body of the manifest for a tag or digest."""
        response = self.get(f"manifests/{reference}", accept=ACCEPT_MANIFESTS)
        body = response.content
        if reference.startswith("sha256:"):
            actual = "sha256:" + hashlib.sha256(body).hexdigest()
            if actual != reference:
                raise PullError(
                    f"manifest digest mismatch: expected {reference}, got {actual}"
                )
        try:
            manifest = json.loads(body)
        except ValueError as error:
            raise PullError(f"manifest {reference} is not valid JSON") from error
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return manifest.get("mediaType") or content_type, manifest

    def download_blob(self, descriptor: dict, directory: str) -> str:
        """Download a blob into a file in `directory`, checked against its descriptor.

        A connection cut during the transfer restarts the download.
        """
        digest = descriptor["digest"]
        for attempt in range(MAX_ATTEMPTS):
            try:
                return self._download_once(descriptor, directory)
            except (
                requests.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
            ) as error:
                if attempt == MAX_ATTEMPTS - 1:
                    raise PullError(
                        f"download of blob {digest} failed: {error}"
                    ) from error
                delay = retry_delay(None, attempt)
                log(f"download of blob {digest} cut ({error}), retry in {delay:.1f}s")
                time.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _download_once(self, descriptor: dict, directory: str) -> str:
        digest = descriptor["digest"]
        algorithm, _, expected = digest.partition(":")
        if algorithm != "sha256":
            raise PullError(f"unsupported digest algorithm in {digest}")
        hasher = hashlib.sha256()
        size = 0
        descriptor_fd, path = tempfile.mkstemp(dir=directory, suffix=".blob")
        with (
            self.get(f"blobs/{digest}") as response,
            os.fdopen(descriptor_fd, "wb") as file,
        ):
            for chunk in response.iter_content(CHUNK_SIZE):
                hasher.update(chunk)
                size += len(chunk)
                file.write(chunk)
        if hasher.hexdigest() != expected:
            raise PullError(
                f"blob {digest} digest mismatch: the content hashes to "
                f"sha256:{hasher.hexdigest()}"
            )
        if "size" in descriptor and size != descriptor["size"]:
            raise PullError(
                f"blob {digest} size mismatch: expected {descriptor['size']} bytes, "
                f"got {size}"
            )
        return path


def machine_platform() -> tuple[str, str]:
    """Return this machine's OCI architecture and variant, e.g. ("arm64", "v8")."""
    machine = platform.machine().lower()
    return MACHINE_TO_PLATFORM.get(machine, (machine, ""))


def select_manifest(index: dict, architecture: str, variant: str = "") -> dict:
    """Pick the descriptor for linux/ARCHITECTURE[/VARIANT] from an index."""
    candidates = []
    for descriptor in index.get("manifests", []):
        entry = descriptor.get("platform", {})
        # Attestations (build provenance, SBOMs) are listed as unknown/unknown.
        if entry.get("os") != "linux" or entry.get("architecture") != architecture:
            continue
        entry_variant = entry.get("variant", "")
        # An arm64 image without a variant is an ARMv8 image.
        if architecture == "arm64" and not entry_variant:
            entry_variant = "v8"
        if not variant or not entry_variant or entry_variant == variant:
            candidates.append(descriptor)
    if not candidates:
        available = sorted(
            "/".join(
                filter(None, [p.get("os"), p.get("architecture"), p.get("variant")])
            )
            for p in (d.get("platform", {}) for d in index.get("manifests", []))
        )
        requested = "/".join(filter(None, ["linux", architecture, variant]))
        raise PullError(
            f"no manifest for {requested} in the index; it has {', '.join(available)}"
        )
    return candidates[0]


def resolve_manifest(client: RegistryClient, architecture: str, variant: str) -> dict:
    """Fetch the image manifest, going through an index when there is one."""
    media_type, manifest = client.fetch_manifest(client.image.reference)
    if media_type in INDEX_TYPES or (not media_type and "manifests" in manifest):
        descriptor = select_manifest(manifest, architecture, variant)
        media_type, manifest = client.fetch_manifest(descriptor["digest"])
    if media_type not in MANIFEST_TYPES and "layers" not in manifest:
        raise PullError(f"unsupported manifest type {media_type!r}")
    return manifest


def pull_image(
    image: str,
    root: str,
    *,
    architecture: str | None = None,
    variant: str | None = None,
    session: requests.Session | None = None,
) -> None:
    """Pull IMAGE and extract its layers, in order, into the folder ROOT.

    Raises RegistryUnreachable when the registry cannot be reached before any
    data arrived, and PullError for every other failure.
    """
    client = RegistryClient(parse_reference(image), session)
    if architecture is None:
        architecture, machine_variant = machine_platform()
        variant = machine_variant if variant is None else variant
    manifest = resolve_manifest(client, architecture, variant or "")
    with tempfile.TemporaryDirectory(prefix="solution-blobs-") as blobs:
        for descriptor in manifest.get("layers", []):
            try:
                path = client.download_blob(descriptor, blobs)
            except RegistryUnreachable as error:
                # Part of the image has arrived: that is no longer "offline".
                raise PullError(str(error)) from error
            try:
                layers.extract_layer(path, root)
            except layers.LayerError as error:
                raise PullError(f"layer {descriptor['digest']}: {error}") from error
            finally:
                os.unlink(path)
