"""The pull diagnosis: each known mistake, read from the hub's request log."""

from __future__ import annotations

import pytest

from pytest_stages import pullhints
from pytest_stages.hub import LoggedRequest
from pytest_stages.hub.manifests import DOCKER_MANIFEST, OCI_INDEX

REGISTRY = "registry-1.docker.io"
TOKEN = "auth.docker.io"
STORAGE = "production.cloudflare.docker.com"
DIGEST = "sha256:" + "ab" * 32
TOKEN_QUERY = "service=registry.docker.io&scope=repository%3Alibrary%2Falpine%3Apull"


def request(
    host: str,
    path: str,
    status: int = 200,
    *,
    query: str = "",
    authorization: bool = True,
    note: str = "",
) -> LoggedRequest:
    return LoggedRequest(
        method="GET",
        host=host,
        path=path,
        query=query,
        status=status,
        authorization=authorization,
        accept="",
        client="127.0.0.1",
        time=0.0,
        note=note,
    )


def good_pull() -> list[LoggedRequest]:
    return [
        request(REGISTRY, "/v2/", 401, authorization=False),
        request(TOKEN, "/token", query=TOKEN_QUERY, authorization=False),
        request(
            REGISTRY, "/v2/library/alpine/manifests/latest", note=f"served {OCI_INDEX}"
        ),
        request(
            REGISTRY,
            f"/v2/library/alpine/manifests/{DIGEST}",
            note=f"served {DOCKER_MANIFEST}",
        ),
        request(REGISTRY, f"/v2/library/alpine/blobs/{DIGEST}", 307),
        request(STORAGE, f"/registry-v2/{DIGEST}/data", authorization=False),
    ]


def test_good_pull_needs_no_hint() -> None:
    assert pullhints.explain_pull(good_pull()) is None


def test_no_requests_need_no_hint() -> None:
    assert pullhints.explain_pull([]) is None


def test_authorization_sent_to_storage() -> None:
    log = good_pull()
    log[-1] = request(STORAGE, f"/registry-v2/{DIGEST}/data", 400, authorization=True)

    assert pullhints.explain_pull(log) == pullhints.AUTHORIZATION_TO_STORAGE


def test_missing_library_prefix() -> None:
    log = [
        request(TOKEN, "/token", query=TOKEN_QUERY, authorization=False),
        request(REGISTRY, "/v2/alpine/manifests/latest", 401),
    ]

    assert pullhints.explain_pull(log) == pullhints.MISSING_LIBRARY


def test_no_token_requested() -> None:
    log = [
        request(
            REGISTRY, "/v2/library/alpine/manifests/latest", 401, authorization=False
        )
    ]

    assert pullhints.explain_pull(log) == pullhints.NO_TOKEN


def test_token_without_scope() -> None:
    log = [
        request(
            TOKEN, "/token", query="service=registry.docker.io", authorization=False
        ),
        request(REGISTRY, "/v2/library/alpine/manifests/latest", 401),
    ]

    assert pullhints.explain_pull(log) == pullhints.NO_SCOPE


def test_index_entries_fetched_as_blobs() -> None:
    log = good_pull()[:3] + [
        request(REGISTRY, f"/v2/library/alpine/blobs/{DIGEST}", 404)
    ]

    hint = pullhints.explain_pull(log)

    assert hint is not None
    assert hint.startswith("Your program asked for a blob that does not exist.")
    assert pullhints.INDEX_AS_MANIFEST in hint


@pytest.mark.parametrize("index_type", [OCI_INDEX, pullhints.DOCKER_LIST])
def test_index_read_as_manifest(index_type: str) -> None:
    log = good_pull()[:2] + [
        request(
            REGISTRY, "/v2/library/alpine/manifests/latest", note=f"served {index_type}"
        )
    ]

    hint = pullhints.explain_pull(log)

    assert hint is not None
    assert hint.startswith(
        "Your program read an index as if it were an image manifest."
    )
