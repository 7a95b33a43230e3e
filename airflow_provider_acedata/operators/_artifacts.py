"""Copy a task's artifacts (images, songs, videos) into an ``ObjectStoragePath`` folder, never with the API key.

Each file is streamed (memory flat in its size) under a temporary name in the destination folder, checked
against ``Content-Length`` when the server sends one, then moved to its final name, so that a reader of the
folder never sees half a file. A copy that fails removes its temporary file. Artifacts live on public CDNs:
they are fetched with a session of their own that carries no ``Authorization`` header, so the API key
goes only to the connection's host.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlsplit

from airflow_provider_acedata.exceptions import AceDataError
from airflow_provider_acedata.operators._storage import replacing

if TYPE_CHECKING:
    import requests
    from airflow.sdk import ObjectStoragePath

CHUNK: Final = 1024 * 1024
ATTEMPTS: Final = 3
RETRY_STATUSES: Final = frozenset({408, 425, 429, 500, 502, 503, 504})
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]+")


class AceDataArtifactError(AceDataError):
    """An artifact could not be copied; no partial file was left under its final name."""


def file_names(urls: Sequence[str]) -> list[str]:
    """A safe, distinct file name per URL: its last path segment (``grid.png``), numbered when names repeat."""
    names: list[str] = []
    taken: set[str] = set()
    for index, url in enumerate(urls):
        segment = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1])
        name = _UNSAFE.sub("_", segment).strip("._") or f"artifact-{index}"
        if name in taken:
            name = f"{index}-{name}"
        taken.add(name)
        names.append(name[:200])
    return names


def copy_artifacts(urls: Sequence[str], folder: ObjectStoragePath, *, timeout: float, log: logging.Logger) -> list[str]:
    """Copy every URL into ``folder`` (created if missing); the copies' paths, in the URLs' order."""
    import requests

    folder.mkdir(parents=True, exist_ok=True)
    copies: list[str] = []
    with requests.Session() as session:
        for url, name in zip(urls, file_names(urls), strict=True):
            target = folder / name
            size = _copy(session, url, target, timeout)
            log.info("Copied %s (%d bytes) to %s", url, size, target)
            copies.append(str(target))
    return copies


def _copy(session: requests.Session, url: str, target: ObjectStoragePath, timeout: float) -> int:
    import requests

    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise AceDataArtifactError(f"artifact {url!r} is not an http(s) URL; nothing was copied")
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with replacing(target) as temporary:
                return _stream(session, url, temporary, timeout)
        except (requests.RequestException, _Retryable) as error:
            if attempt == ATTEMPTS:
                raise AceDataArtifactError(
                    f"could not copy {url} to {target} after {ATTEMPTS} attempts: {error}"
                ) from None
            time.sleep(2 ** (attempt - 1))
    raise AssertionError("unreachable")


class _Retryable(Exception):
    """A transient answer (5xx, 429) or a short body: try the copy again."""


def _stream(session: requests.Session, url: str, temporary: ObjectStoragePath, timeout: float) -> int:
    with session.get(url, stream=True, timeout=timeout, headers={"Accept": "*/*"}) as response:
        if response.status_code in RETRY_STATUSES:
            raise _Retryable(f"GET {url} -> {response.status_code}")
        if response.status_code != 200:
            raise AceDataArtifactError(f"GET {url} -> {response.status_code}: the artifact could not be downloaded")
        expected = response.headers.get("Content-Length")
        encoded = response.headers.get("Content-Encoding") not in (None, "identity")
        written = 0
        with temporary.open("wb") as stream:
            for chunk in response.iter_content(CHUNK):
                stream.write(chunk)
                written += len(chunk)
    if expected is not None and not encoded and expected.isdigit() and int(expected) != written:
        raise _Retryable(f"GET {url} ended after {written} of {expected} bytes")
    return written
