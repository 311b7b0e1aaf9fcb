"""Registries: the OCI distribution API over HTTP (the local registry, any v2 registry).

ECR's control plane lives in adapters/ecr.py; both answer the same small protocol so the push
operation does not care which one it talks to.

Credentials (Basic, and the Bearer token bought with them) travel only over TLS or to this
machine's loopback; only to the registry's own scheme, host and port, never across a redirect
to anywhere else; and Basic goes to a token realm only on the registry's host (or its known
token service, KNOWN_TOKEN_HOSTS).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from typing import Protocol

from shipyard.errors import ConfigError, RegistryError
from shipyard.records import record
from shipyard.secrets import Secret, redact

MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


@record
class RemoteManifest:
    digest: str  # the manifest digest: what `repo@sha256:...` pins
    config_digest: str | None  # the image id, for single-platform manifests


@record
class Provenance:
    """What a tag in the registry names: the manifest, the image id, the commit it was built
    from (from the image's OCI revision label, or the registry's commit tag)."""

    tag: str
    digest: str
    config_digest: str | None
    revision: str | None


REVISION_LABEL = "org.opencontainers.image.revision"


@record
class Credentials:
    username: str
    password: Secret


class Registry(Protocol):
    @property
    def server(self) -> str:
        """host[:port] as used in image references and docker login."""

    def credentials(self) -> Credentials | None: ...

    def manifest(self, repository: str, tag: str) -> RemoteManifest | None: ...

    def tags(self, repository: str) -> list[str]: ...

    def provenance(self, repository: str, tag: str) -> Provenance | None: ...


class OciRegistry:
    def __init__(
        self,
        url: str,
        credentials: Credentials | None = None,
        *,
        tls: bool = False,
        timeout: float = 10,
    ) -> None:
        self._server = re.sub(r"^https?://", "", url).rstrip("/")
        self._scheme = "https" if tls or url.startswith("https://") else "http"
        self._origin = _origin(f"{self._scheme}://{self._server}")
        if credentials and not _may_carry_credentials(self._origin):
            raise ConfigError(
                f"registry {self._server}: refusing to send its credentials over plain HTTP "
                "to a host that is not this machine",
                hint="use TLS: set tls = true under [registry], or an https:// url",
            )
        self._credentials = credentials
        self._timeout = timeout
        self._token: str | None = None

    @property
    def server(self) -> str:
        return self._server

    def credentials(self) -> Credentials | None:
        return self._credentials

    def _basic(self) -> str | None:
        if not self._credentials:
            return None
        raw = f"{self._credentials.username}:{self._credentials.password.reveal()}"
        return "Basic " + base64.b64encode(raw.encode()).decode()

    def _request(
        self,
        method: str,
        path: str,
        accept: str | None = None,
        *,
        body: bytes | None = None,
        content_type: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        url = f"{self._scheme}://{self._server}{path}"
        headers = {"Accept": accept} if accept else {}
        if content_type:
            headers["Content-Type"] = content_type
        for attempt in range(2):
            auth = f"Bearer {self._token}" if self._token else self._basic()
            try:
                status, answer, data, home = _fetch(
                    method,
                    url,
                    headers,
                    body,
                    auth=auth,
                    origin=self._origin,
                    timeout=self._timeout,
                )
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise RegistryError(
                    f"cannot reach registry {self._server}: {redact(str(reason))}",
                    hint="is it running? scripts/bootstrap.sh starts the local one",
                ) from None
            except _TooManyRedirects:
                raise RegistryError(
                    f"registry {self._server} redirected {path} more than {MAX_REDIRECTS} times"
                ) from None
            challenge = _header(answer, "WWW-Authenticate") or ""
            # only the registry itself may ask for a token: a host it redirected to may not
            if status == 401 and home and attempt == 0 and challenge.startswith("Bearer"):
                self._token = self._fetch_token(challenge)
                continue
            return status, answer, data
        raise RegistryError(f"registry {self._server} kept refusing the token it issued")

    def _fetch_token(self, challenge: str) -> str:
        params = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
        realm = params.pop("realm", "")
        if not realm:
            raise RegistryError(f"registry {self._server} sent a Bearer challenge without realm")
        realm_origin = self._check_realm(realm)
        query = urllib.parse.urlencode(params)
        url = f"{realm}{'&' if '?' in realm else '?'}{query}"
        try:
            status, _, data, _ = _fetch(
                "GET", url, {}, None, auth=self._basic(), origin=realm_origin, timeout=self._timeout
            )
            if status >= 400:
                raise RegistryError(f"registry {self._server}: token request failed: HTTP {status}")
            body = json.loads(data)
        except (urllib.error.URLError, OSError, ValueError, _TooManyRedirects) as exc:
            raise RegistryError(f"registry {self._server}: token request failed: {exc}") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not token:
            raise RegistryError(f"registry {self._server}: token endpoint returned no token")
        Secret(token)  # registered for redaction
        return str(token)

    def _check_realm(self, realm: str) -> Origin:
        """The token realm gets our credentials: it must be the registry's own host (any port)
        or the known token service of that registry, and reached the way credentials may be."""
        realm_origin = _origin(realm)
        scheme, host, _ = realm_origin
        ours = self._origin[1]
        if scheme not in ("http", "https") or not host:
            raise RegistryError(
                f"registry {self._server} sent a Bearer challenge whose realm is no HTTP URL"
            )
        if host != ours and host not in KNOWN_TOKEN_HOSTS.get(ours, ()):
            raise RegistryError(
                f"registry {self._server} sent a Bearer challenge with its token realm on "
                f"another host ({host}); refused, no credentials were sent there"
            )
        if self._credentials and not _may_carry_credentials(realm_origin):
            raise RegistryError(
                f"registry {self._server}: its token realm {host} is plain HTTP; "
                "refused, no credentials were sent there (use TLS)"
            )
        return realm_origin

    def _refused(self) -> RegistryError:
        who = self._credentials.username if self._credentials else "anonymous"
        return RegistryError(
            f"registry {self._server} refused the login for user {who!r}",
            hint="check the username and the password reference in the config",
        )

    def retag(self, repository: str, source_tag: str, new_tag: str) -> str:
        """Put the manifest held under `source_tag` under `new_tag` as well, byte for byte (so
        the digest is the same); returns that digest. One request instead of a docker push."""
        src = f"/v2/{repository}/manifests/{urllib.parse.quote(source_tag, safe='')}"
        status, headers, body = self._request("GET", src, accept=MANIFEST_TYPES)
        if status == 401:
            raise self._refused()
        if status >= 400:
            raise RegistryError(
                f"registry {self._server} answered HTTP {status} for {repository}:{source_tag}"
            )
        media_type = _header(headers, "Content-Type") or json.loads(body).get("mediaType", "")
        dst = f"/v2/{repository}/manifests/{urllib.parse.quote(new_tag, safe='')}"
        status, headers, answer = self._request("PUT", dst, body=body, content_type=media_type)
        if status == 401:
            raise self._refused()
        if status >= 400:
            raise RegistryError(
                f"registry {self._server} refused to tag {repository}:{new_tag} "
                f"(HTTP {status}): {answer[:200].decode('utf-8', 'replace')}"
            )
        return _header(headers, "Docker-Content-Digest") or ""

    def check_login(self) -> None:
        """Raise RegistryError unless the registry answers and accepts our credentials."""
        status, _, _ = self._request("GET", "/v2/")
        if status == 401:
            raise self._refused()
        if status >= 400:
            raise RegistryError(f"registry {self._server} answered HTTP {status} on /v2/")

    def manifest(self, repository: str, tag: str) -> RemoteManifest | None:
        path = f"/v2/{repository}/manifests/{urllib.parse.quote(tag, safe='')}"
        status, headers, body = self._request("GET", path, accept=MANIFEST_TYPES)
        if status == 404:
            return None
        if status == 401:
            raise self._refused()
        if status >= 400:
            raise RegistryError(
                f"registry {self._server} answered HTTP {status} for {repository}:{tag}"
            )
        digest = _header(headers, "Docker-Content-Digest") or ""
        try:
            doc = json.loads(body)
        except ValueError:
            doc = {}
        config = doc.get("config", {}).get("digest") if isinstance(doc, dict) else None
        if not digest:
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
        return RemoteManifest(digest=digest, config_digest=config)

    def provenance(self, repository: str, tag: str) -> Provenance | None:
        held = self.manifest(repository, tag)
        if held is None:
            return None
        revision = None
        if held.config_digest:
            path = f"/v2/{repository}/blobs/{held.config_digest}"
            status, _, body = self._request("GET", path)
            if status < 400:
                with contextlib.suppress(ValueError, AttributeError):
                    labels = (json.loads(body).get("config") or {}).get("Labels") or {}
                    revision = labels.get(REVISION_LABEL)
        return Provenance(tag, held.digest, held.config_digest, revision)

    def tags(self, repository: str) -> list[str]:
        status, _, body = self._request("GET", f"/v2/{repository}/tags/list")
        if status == 401:
            raise self._refused()
        if status == 404:
            return []
        if status >= 400:
            raise RegistryError(f"registry {self._server} answered HTTP {status} listing tags")
        return list(json.loads(body).get("tags") or [])


def _header(headers: dict[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None


# -- where credentials may go ---------------------------------------------------------------------
Origin = tuple[str, str, int]  # scheme, lower-case host, port
MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)
# token services that live on another host than their registry (Docker Hub's); anything else
# must issue tokens from the registry's own host
KNOWN_TOKEN_HOSTS: dict[str, tuple[str, ...]] = {
    "registry-1.docker.io": ("auth.docker.io",),
    "index.docker.io": ("auth.docker.io",),
    "docker.io": ("auth.docker.io",),
}


class _TooManyRedirects(Exception):
    def __str__(self) -> str:
        return f"more than {MAX_REDIRECTS} redirects"


def _origin(url: str) -> Origin:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    default = 443 if scheme == "https" else 80
    return scheme, (parts.hostname or "").lower(), port or default


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _may_carry_credentials(origin: Origin) -> bool:
    """Credentials travel over TLS, or in clear only to this machine (nobody can listen in)."""
    scheme, host, _ = origin
    return scheme == "https" or _is_loopback(host)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """urllib would follow a redirect with our Authorization header to any host: we follow
    them ourselves, in _fetch."""

    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects())


def _fetch(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    *,
    auth: str | None,
    origin: Origin,
    timeout: float,
) -> tuple[int, dict[str, str], bytes, bool]:
    """One request, following GET/HEAD redirects; `auth` goes only to `origin` (scheme, host
    and port alike). Returns status, headers, body and whether the answer came from `origin`."""
    for _hop in range(MAX_REDIRECTS + 1):
        home = _origin(url) == origin
        sent = {**headers, "Authorization": auth} if auth and home else dict(headers)
        req = urllib.request.Request(url, data=body, method=method, headers=sent)  # noqa: S310
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                status, answer, data = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            status, answer, data = exc.code, dict(exc.headers), exc.read()
        location = _header(answer, "Location")
        if status not in REDIRECTS or not location or method not in ("GET", "HEAD"):
            return status, answer, data, home
        url = urllib.parse.urljoin(url, location)
        if _origin(url)[0] not in ("http", "https"):
            raise urllib.error.URLError(f"redirected to {url.split(':', 1)[0]}:, not HTTP")
    raise _TooManyRedirects
