"""Explain a failed image pull from the requests the hub logged."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pytest_stages.hub import LoggedRequest
from pytest_stages.hub.manifests import DOCKER_LIST, OCI_INDEX
from pytest_stages.hub.tls import STORAGE_HOST, TOKEN_HOST

_REPOSITORY_PATH = re.compile(r"^/v2/(?P<name>.+)/(manifests|blobs)/")

AUTHORIZATION_TO_STORAGE = (
    "Your program sent its Authorization header to the blob storage host it was "
    "redirected to, which rejects it (as Docker Hub's storage does). Follow the "
    "redirect without that header."
)
MISSING_LIBRARY = (
    "Official images live under library/: ask for "
    "/v2/library/alpine/manifests/latest, not /v2/alpine/manifests/latest."
)
NO_TOKEN = (
    "Your program never asked the token service for a token. Read the realm, "
    "service and scope from the 401 answer's WWW-Authenticate header, get a "
    "token there, and send it as 'Authorization: Bearer'."
)
NO_SCOPE = (
    "Your program asked for a token without a scope, so the token does not "
    "allow pulling. Ask with scope=repository:library/NAME:pull."
)
INDEX_AS_MANIFEST = (
    "For a multi-platform tag the registry answers with an index (a manifest "
    "list), not an image manifest: its entries are manifests, one per "
    "platform, and it has no layers. Pick the entry for linux and your "
    "architecture, fetch that manifest by its digest, and then its layers."
)


def _host(entry: LoggedRequest) -> str:
    return entry.host.split(":")[0]


def explain_pull(log: Sequence[LoggedRequest]) -> str | None:
    """Return the hint for the first known pull mistake the requests show, or None."""
    if any(_host(e) == STORAGE_HOST and e.authorization for e in log):
        return AUTHORIZATION_TO_STORAGE
    names = [m["name"] for e in log if (m := _REPOSITORY_PATH.match(e.path))]
    if any("/" not in name for name in names):
        return MISSING_LIBRARY
    token_requests = [e for e in log if _host(e) == TOKEN_HOST]
    registry_requests = [e for e in log if e.path.startswith("/v2/")]
    if registry_requests and not token_requests:
        return NO_TOKEN
    if token_requests and all("scope=" not in e.query for e in token_requests):
        return NO_SCOPE
    if any("/blobs/" in e.path and e.status == 404 for e in log):
        return "Your program asked for a blob that does not exist. " + INDEX_AS_MANIFEST
    if _index_never_followed(log):
        return "Your program read an index as if it were an image manifest. " + (
            INDEX_AS_MANIFEST
        )
    return None


def _index_never_followed(log: Sequence[LoggedRequest]) -> bool:
    """Tell whether an index was served but no manifest was then fetched by digest."""
    manifests = [e for e in log if "/manifests/" in e.path and e.method == "GET"]
    served_index = any(
        index_type in e.note
        for e in manifests
        for index_type in (OCI_INDEX, DOCKER_LIST)
    )
    by_digest = any("/manifests/sha256:" in e.path for e in manifests)
    return served_index and not by_digest
