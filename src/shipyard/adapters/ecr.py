"""Amazon ECR through its API: login token, manifests, repository settings, lifecycle policy,
scans, listing and batch deletion.

EcrRegistry answers the same `Registry` protocol as the OCI registry (server, credentials,
manifest), so `inv push` runs the same code for both; only the control plane lives here.
The data plane (layer upload) is docker's job.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import field
from typing import Any

from shipyard.adapters.aws import AwsClients, error_code, translate_errors
from shipyard.adapters.registry import MANIFEST_TYPES, Credentials, Provenance, RemoteManifest
from shipyard.config.model import EcrRegistryConfig, ShipyardConfig
from shipyard.errors import AwsError, ConfigError, RegistryError
from shipyard.records import record
from shipyard.secrets import Secret
from shipyard.tag_mutability import check_tag_mutability

# ECR's limits: batch_delete_image and batch_get_image take at most 100 image ids;
# describe_images returns at most 1000 per page.
BATCH_LIMIT = 100
PAGE_SIZE = 1000
INDEX_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)


@record
class ImageDetail:
    digest: str
    tags: tuple[str, ...]
    pushed_at: dt.datetime
    media_type: str | None = None
    size_bytes: int | None = None
    scan_status: str | None = None

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_MEDIA_TYPES

    @classmethod
    def from_api(cls, item: dict[str, Any]) -> ImageDetail:
        pushed = item.get("imagePushedAt")
        if not isinstance(pushed, dt.datetime):
            pushed = dt.datetime.fromtimestamp(float(pushed or 0), dt.UTC)
        elif pushed.tzinfo is None:
            pushed = pushed.replace(tzinfo=dt.UTC)
        return cls(
            digest=str(item["imageDigest"]),
            tags=tuple(item.get("imageTags") or ()),
            pushed_at=pushed,
            media_type=item.get("imageManifestMediaType"),
            size_bytes=item.get("imageSizeInBytes"),
            scan_status=(item.get("imageScanStatus") or {}).get("status"),
        )


@record
class RepositoryState:
    name: str
    uri: str
    scan_on_push: bool
    tag_mutability: str
    mutable_tags: tuple[str, ...]
    encryption: str
    kms_key: str | None


@record
class DeleteReport:
    deleted: tuple[str, ...]  # digests
    failures: tuple[tuple[str, str, str], ...]  # (digest, code, reason)
    calls: int


@record(frozen=False)
class _CachedToken:
    credentials: Credentials
    expires_at: dt.datetime


@record(frozen=False)
class EcrRegistry:
    """One ECR registry (account + region) seen through the API."""

    aws: AwsClients
    config: EcrRegistryConfig = field(default_factory=EcrRegistryConfig)
    account: str | None = None  # None: ask STS on first use
    _token: _CachedToken | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_config(cls, config: ShipyardConfig, aws: AwsClients) -> EcrRegistry:
        reg = config.registry
        if not isinstance(reg, EcrRegistryConfig):
            raise ConfigError(f"registry.kind is {reg.kind!r}, not 'ecr'")
        check_tag_mutability(reg, config.image.tags)
        clients = aws.for_region(reg.region) if reg.region else aws
        return cls(clients, reg, reg.account_id or config.aws.account_id)

    # -- the Registry protocol ---------------------------------------------------------
    @property
    def region(self) -> str:
        return self.aws.region

    @property
    def account_id(self) -> str:
        if self.account is None:
            self.account = self.aws.account_id()
        return self.account

    @property
    def server(self) -> str:
        return f"{self.account_id}.dkr.ecr.{self.region}.amazonaws.com"

    @property
    def client(self) -> Any:
        return self.aws.client("ecr")

    def _registry(self) -> dict[str, str]:
        """registryId only when the account was named: then it may be another account's."""
        return {"registryId": self.account} if self.account else {}

    def credentials(self) -> Credentials:
        """docker login credentials from get_authorization_token; the token is a Secret."""
        now = dt.datetime.now(dt.UTC)
        if self._token and self._token.expires_at - now > dt.timedelta(minutes=5):
            return self._token.credentials
        kwargs: dict[str, Any] = {"registryIds": [self.account]} if self.account else {}
        with translate_errors("ecr:GetAuthorizationToken"):
            data = self.client.get_authorization_token(**kwargs)["authorizationData"]
        if not data:
            raise RegistryError("ECR returned no authorization data", hint="check the account id")
        encoded = str(data[0]["authorizationToken"])
        try:
            decoded = base64.b64decode(encoded).decode()
        except ValueError:
            raise RegistryError("ECR returned an authorization token that is not base64") from None
        username, sep, password = decoded.partition(":")
        if not sep:
            raise RegistryError("ECR returned an authorization token without user:password")
        Secret(encoded)  # the encoded form is as good as the password: mask it too
        expires = data[0].get("expiresAt")
        if not isinstance(expires, dt.datetime):
            expires = now + dt.timedelta(hours=12)
        creds = Credentials(username, Secret(password, source="ecr:GetAuthorizationToken"))
        self._token = _CachedToken(creds, expires)
        return creds

    def manifest(self, repository: str, tag: str) -> RemoteManifest | None:
        """The image under `tag`, in one BatchGetImage: its digest, and its config digest (the
        image id) from the manifest itself."""
        with self._repository_must_exist(repository):
            found = self._batch_get(repository, [{"imageTag": tag}])
        if not found:
            return None
        digest, doc = found[0]
        config = doc.get("config")
        config_digest = config.get("digest") if isinstance(config, dict) else None
        return RemoteManifest(digest=digest, config_digest=config_digest)

    @contextlib.contextmanager
    def _repository_must_exist(self, repository: str) -> Iterator[None]:
        """ECR's RepositoryNotFoundException as the error that says how to create it."""
        try:
            yield
        except AwsError as exc:
            if "RepositoryNotFoundException" in exc.message:
                raise _no_repository(repository, self.server) from None
            raise

    # -- images --------------------------------------------------------------------------
    def image(
        self, repository: str, *, tag: str | None = None, digest: str | None = None
    ) -> ImageDetail | None:
        image_id = {"imageDigest": digest} if digest else {"imageTag": str(tag)}
        try:
            with (
                self._repository_must_exist(repository),
                translate_errors(f"ecr:DescribeImages {repository}"),
            ):
                response = self.client.describe_images(
                    repositoryName=repository, imageIds=[image_id], **self._registry()
                )
        except AwsError as exc:
            if "ImageNotFoundException" in exc.message:
                return None
            raise
        details = response.get("imageDetails") or []
        return ImageDetail.from_api(details[0]) if details else None

    def iter_images(self, repository: str) -> Iterator[ImageDetail]:
        """Every image of the repository, page by page (1000 per call)."""
        paginator = self.client.get_paginator("describe_images")
        pages = paginator.paginate(
            repositoryName=repository,
            PaginationConfig={"PageSize": PAGE_SIZE},
            **self._registry(),
        )
        with (
            self._repository_must_exist(repository),
            translate_errors(f"ecr:DescribeImages {repository}"),
        ):
            for page in pages:
                for item in page.get("imageDetails") or []:
                    yield ImageDetail.from_api(item)

    def tags(self, repository: str) -> list[str]:
        """Every tag of the repository; none when it does not exist yet."""
        if self.repository(repository) is None:
            return []
        return [tag for image in self.iter_images(repository) for tag in image.tags]

    def provenance(self, repository: str, tag: str) -> Provenance | None:
        """The image under `tag`; its commit from the commit tag (sha-<hex>) on the same
        image, since ECR's API does not serve the image's config labels."""
        if self.repository(repository) is None:
            return None
        held = self.manifest(repository, tag)
        if held is None:
            return None
        detail = self.image(repository, digest=held.digest)
        commits = [t[4:] for t in (detail.tags if detail else ()) if t.startswith("sha-")]
        return Provenance(tag, held.digest, held.config_digest, commits[0] if commits else None)

    def retag(self, repository: str, source_tag: str, new_tag: str) -> str:
        """Put the manifest under `source_tag` under `new_tag` too (batch_get_image +
        put_image: no layers move); returns its digest."""
        with translate_errors(f"ecr:BatchGetImage {repository}:{source_tag}"):
            got = self.client.batch_get_image(
                repositoryName=repository,
                imageIds=[{"imageTag": source_tag}],
                acceptedMediaTypes=[t.strip() for t in MANIFEST_TYPES.split(",")],
                **self._registry(),
            )
        images = got.get("images") or []
        if not images:
            raise RegistryError(f"ECR repository {repository} has no tag {source_tag}")
        image = images[0]
        extra = {}
        if image.get("imageManifestMediaType"):
            extra["imageManifestMediaType"] = image["imageManifestMediaType"]
        already = self.client.exceptions.ImageAlreadyExistsException  # names this manifest
        with translate_errors(f"ecr:PutImage {repository}:{new_tag}"), contextlib.suppress(already):
            self.client.put_image(
                repositoryName=repository,
                imageManifest=image["imageManifest"],
                imageTag=new_tag,
                **extra,
                **self._registry(),
            )
        return str(image.get("imageId", {}).get("imageDigest", ""))

    def manifests(self, repository: str, digests: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Manifest documents by digest (batch_get_image, 100 per call)."""
        found: dict[str, dict[str, Any]] = {}
        for batch in chunks(list(digests), BATCH_LIMIT):
            found.update(self._batch_get(repository, [{"imageDigest": d} for d in batch]))
        return found

    def _batch_get(
        self, repository: str, image_ids: list[dict[str, str]]
    ) -> list[tuple[str, dict[str, Any]]]:
        """(digest, manifest document) of each image ECR found; the ones it did not find are
        left out (its `failures`)."""
        with translate_errors(f"ecr:BatchGetImage {repository}"):
            response = self.client.batch_get_image(
                repositoryName=repository,
                imageIds=image_ids,
                acceptedMediaTypes=[t.strip() for t in MANIFEST_TYPES.split(",")],
                **self._registry(),
            )
        found = []
        for image in response.get("images") or []:
            digest = image.get("imageId", {}).get("imageDigest")
            try:
                doc = json.loads(image.get("imageManifest") or "{}")
            except ValueError:
                doc = {}
            if digest and isinstance(doc, dict):
                found.append((str(digest), doc))
        return found

    def delete_images(self, repository: str, digests: Iterable[str]) -> DeleteReport:
        """batch_delete_image by digest (removing every tag of each), 100 per call."""
        deleted: list[str] = []
        failures: list[tuple[str, str, str]] = []
        calls = 0
        for batch in chunks(list(dict.fromkeys(digests)), BATCH_LIMIT):
            with translate_errors(f"ecr:BatchDeleteImage {repository}"):
                response = self.client.batch_delete_image(
                    repositoryName=repository,
                    imageIds=[{"imageDigest": d} for d in batch],
                    **self._registry(),
                )
            calls += 1
            refused: list[tuple[str, str, str]] = [
                (
                    str(failure.get("imageId", {}).get("imageDigest", "?")),
                    str(failure.get("failureCode", "?")),
                    str(failure.get("failureReason", "")),
                )
                for failure in response.get("failures") or []
            ]
            failures.extend(refused)
            # What was asked minus what was refused: ECR lists a deleted image once per tag,
            # and an untagged one possibly not at all.
            refused_digests = {digest for digest, _, _ in refused}
            deleted.extend(d for d in batch if d not in refused_digests)
        return DeleteReport(tuple(dict.fromkeys(deleted)), tuple(failures), calls)

    # -- repository ------------------------------------------------------------------------
    def repository(self, name: str) -> RepositoryState | None:
        try:
            with translate_errors(f"ecr:DescribeRepositories {name}"):
                response = self.client.describe_repositories(
                    repositoryNames=[name], **self._registry()
                )
        except AwsError as exc:
            if "RepositoryNotFoundException" in exc.message:
                return None
            raise
        repos = response.get("repositories") or []
        return _repository_state(repos[0]) if repos else None

    def create_repository(self, name: str) -> RepositoryState:
        cfg = self.config
        kwargs: dict[str, Any] = {
            "repositoryName": name,
            "imageTagMutability": cfg.tag_mutability,
            "imageScanningConfiguration": {"scanOnPush": cfg.scan_on_push},
            "encryptionConfiguration": encryption_configuration(cfg),
            "tags": [{"Key": "managed-by", "Value": "shipyard"}],
            **self._registry(),
        }
        if cfg.tag_mutability == "IMMUTABLE_WITH_EXCLUSION":
            kwargs["imageTagMutabilityExclusionFilters"] = exclusion_filters(cfg)
        with translate_errors(f"ecr:CreateRepository {name}"):
            repo = self.client.create_repository(**kwargs)["repository"]
        return _repository_state(repo)

    def set_scan_on_push(self, name: str, enabled: bool) -> None:
        with translate_errors(f"ecr:PutImageScanningConfiguration {name}"):
            self.client.put_image_scanning_configuration(
                repositoryName=name,
                imageScanningConfiguration={"scanOnPush": enabled},
                **self._registry(),
            )

    def set_tag_mutability(self, name: str) -> None:
        kwargs: dict[str, Any] = {
            "repositoryName": name,
            "imageTagMutability": self.config.tag_mutability,
            **self._registry(),
        }
        if self.config.tag_mutability == "IMMUTABLE_WITH_EXCLUSION":
            kwargs["imageTagMutabilityExclusionFilters"] = exclusion_filters(self.config)
        with translate_errors(f"ecr:PutImageTagMutability {name}"):
            self.client.put_image_tag_mutability(**kwargs)

    def lifecycle_policy(self, name: str) -> dict[str, Any] | None:
        try:
            with translate_errors(f"ecr:GetLifecyclePolicy {name}"):
                text = self.client.get_lifecycle_policy(repositoryName=name, **self._registry())[
                    "lifecyclePolicyText"
                ]
        except AwsError as exc:
            if "LifecyclePolicyNotFoundException" in exc.message:
                return None
            raise
        try:
            policy = json.loads(text)
        except ValueError:
            return {"unparsable": str(text)}
        return policy if isinstance(policy, dict) else {"unparsable": str(text)}

    def put_lifecycle_policy(self, name: str, policy: dict[str, Any]) -> None:
        with translate_errors(f"ecr:PutLifecyclePolicy {name}"):
            self.client.put_lifecycle_policy(
                repositoryName=name,
                lifecyclePolicyText=json.dumps(policy, sort_keys=True),
                **self._registry(),
            )

    # -- scanning --------------------------------------------------------------------------
    def start_scan(self, repository: str, digest: str) -> str:
        """Start a basic scan; returns the status ECR reports (usually IN_PROGRESS).
        LimitExceededException (one scan per image per day) comes back as 'LIMIT_EXCEEDED'."""
        try:
            with translate_errors(f"ecr:StartImageScan {repository}"):
                response = self.client.start_image_scan(
                    repositoryName=repository, imageId={"imageDigest": digest}, **self._registry()
                )
        except AwsError as exc:
            if "LimitExceededException" in exc.message:
                return "LIMIT_EXCEEDED"
            raise
        return str((response.get("imageScanStatus") or {}).get("status", "IN_PROGRESS"))

    def scan_findings(self, repository: str, digest: str) -> dict[str, Any] | None:
        """The scan status and every finding (all pages); None when no scan exists yet."""
        import botocore.exceptions as bx

        merged: dict[str, Any] = {}
        findings: list[dict[str, Any]] = []
        enhanced: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "repositoryName": repository,
                "imageId": {"imageDigest": digest},
                "maxResults": 1000,
                **self._registry(),
            }
            if token:
                kwargs["nextToken"] = token
            try:
                with translate_errors(f"ecr:DescribeImageScanFindings {repository}"):
                    try:
                        page = self.client.describe_image_scan_findings(**kwargs)
                    except bx.ClientError as exc:
                        if error_code(exc) == "ScanNotFoundException":
                            return None
                        raise
            except AwsError as exc:
                if "ImageNotFoundException" in exc.message:
                    raise RegistryError(
                        f"{repository}@{digest[:19]} is no longer in ECR", hint="push it again"
                    ) from None
                raise
            if not merged:
                merged = dict(page)
            body = page.get("imageScanFindings") or {}
            findings.extend(body.get("findings") or [])
            enhanced.extend(body.get("enhancedFindings") or [])
            token = page.get("nextToken")
            if not token:
                break
        body = dict(merged.get("imageScanFindings") or {})
        body["findings"] = findings
        body["enhancedFindings"] = enhanced
        merged["imageScanFindings"] = body
        merged.pop("nextToken", None)
        return merged


def _repository_state(repo: dict[str, Any]) -> RepositoryState:
    encryption = repo.get("encryptionConfiguration") or {}
    return RepositoryState(
        name=str(repo["repositoryName"]),
        uri=str(repo.get("repositoryUri", "")),
        scan_on_push=bool((repo.get("imageScanningConfiguration") or {}).get("scanOnPush")),
        tag_mutability=str(repo.get("imageTagMutability", "MUTABLE")),
        mutable_tags=tuple(
            str(f.get("filter")) for f in repo.get("imageTagMutabilityExclusionFilters") or []
        ),
        encryption=str(encryption.get("encryptionType", "AES256")),
        kms_key=encryption.get("kmsKey"),
    )


def _no_repository(repository: str, server: str) -> RegistryError:
    return RegistryError(
        f"ECR repository {repository!r} does not exist in {server}",
        hint="create it with inv ecr-repo --env <environment>",
    )


def encryption_configuration(cfg: EcrRegistryConfig) -> dict[str, str]:
    conf: dict[str, str] = {"encryptionType": cfg.encryption}
    if cfg.encryption == "KMS" and cfg.kms_key:
        conf["kmsKey"] = cfg.kms_key
    return conf


def exclusion_filters(cfg: EcrRegistryConfig) -> list[dict[str, str]]:
    return [{"filterType": "WILDCARD", "filter": pattern} for pattern in cfg.mutable_tags]


def chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
