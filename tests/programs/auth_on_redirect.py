#!/usr/bin/env python3
# Mistake: sends the Authorization header again on the blob redirect to the storage host.
"""The reference solution that follows redirects with its token."""

import sys
from urllib.parse import urljoin

import requests

from solution import registry, runtime


def follow_redirects_with_token(
    self: registry.RegistryClient,
    url: str,
    response: requests.Response,
    headers: dict[str, str],
) -> requests.Response:
    while response.status_code in (301, 302, 303, 307, 308):
        url = urljoin(url, response.headers["Location"])
        response.close()
        response = self._send(url, headers, with_token=True)
    return self._check_status(url, response)


registry.RegistryClient._follow_redirects = follow_redirects_with_token
sys.exit(runtime.main())
