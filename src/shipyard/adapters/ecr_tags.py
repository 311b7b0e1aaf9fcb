"""Tags on images already in ECR: which digest a tag names, which tags a digest has, and
adding a tag to an existing manifest (batch_get_image + put_image: no pull, no push).

`registry` is the registryId argument ({} for the caller's own account), so another
account's registry can be named.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.adapters.aws import error_code, translate_errors
from shipyard.errors import AwsError

ACCEPTED_MANIFESTS = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
]


def digest_of_tag(
    ecr: Any, repository: str, tag: str, registry: Mapping[str, str], *, missing_ok: bool = True
) -> str | None:
    """The digest `repository:tag` names; None when no image has that tag and that may be,
    else the AwsError of ImageNotFoundException."""
    import botocore.exceptions as bx

    with translate_errors(f"ecr:DescribeImages {repository}:{tag}"):
        try:
            images = ecr.describe_images(
                repositoryName=repository, imageIds=[{"imageTag": tag}], **registry
            )["imageDetails"]
        except bx.ClientError as exc:
            if not missing_ok or error_code(exc) != "ImageNotFoundException":
                raise
            return None
    return str(images[0]["imageDigest"]) if images else None


def tags_of_digest(
    ecr: Any, repository: str, digest: str, registry: Mapping[str, str]
) -> tuple[str, ...]:
    with translate_errors(f"ecr:DescribeImages {repository}@{digest[:19]}"):
        images = ecr.describe_images(
            repositoryName=repository, imageIds=[{"imageDigest": digest}], **registry
        )["imageDetails"]
    return tuple(images[0].get("imageTags") or ()) if images else ()


def put_tag(ecr: Any, repository: str, digest: str, tag: str, registry: Mapping[str, str]) -> None:
    """Put `tag` on the manifest `digest` already has, with the manifest's own media type."""
    with translate_errors(f"ecr:BatchGetImage {repository}@{digest[:19]}"):
        got = ecr.batch_get_image(
            repositoryName=repository,
            imageIds=[{"imageDigest": digest}],
            acceptedMediaTypes=ACCEPTED_MANIFESTS,
            **registry,
        )
    if not got.get("images"):
        reason = (got.get("failures") or [{}])[0].get("failureReason", "not found")
        raise AwsError(f"ecr:BatchGetImage {repository}@{digest[:19]}: {reason}")
    image = got["images"][0]
    extra = {}
    if image.get("imageManifestMediaType"):
        extra["imageManifestMediaType"] = image["imageManifestMediaType"]
    with translate_errors(f"ecr:PutImage {repository}:{tag}"):
        ecr.put_image(
            repositoryName=repository,
            imageManifest=image["imageManifest"],
            imageTag=tag,
            imageDigest=digest,
            **extra,
            **registry,
        )
