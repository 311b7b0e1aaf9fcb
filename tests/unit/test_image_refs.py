"""The one image-reference parser (images.parse_image_ref) and what is built on it."""

from __future__ import annotations

import pytest

from shipyard.adapters.ecs import parse_ecr_image
from shipyard.images import ImageRef, image_ref, parse_image_ref

ECR = "123456789012.dkr.ecr.ap-northeast-2.amazonaws.com"


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        (f"{ECR}/app:1.2.3", ImageRef(ECR, "app", "1.2.3", None)),
        (f"{ECR}/team/app:1.2.3", ImageRef(ECR, "team/app", "1.2.3", None)),
        (
            "123.dkr.ecr.us-east-1.amazonaws.com/team/app@sha256:ab",
            ImageRef("123.dkr.ecr.us-east-1.amazonaws.com", "team/app", None, "sha256:ab"),
        ),
        (f"{ECR}/app:1.2.3@sha256:cd", ImageRef(ECR, "app", "1.2.3", "sha256:cd")),
        ("127.0.0.1:5000/app:1.0.0", ImageRef("127.0.0.1:5000", "app", "1.0.0", None)),
        ("127.0.0.1:5000/team/app", ImageRef("127.0.0.1:5000", "team/app", None, None)),
        ("localhost/app:2", ImageRef("localhost", "app", "2", None)),
        ("app", ImageRef(None, "app", None, None)),
        ("app:1.0", ImageRef(None, "app", "1.0", None)),
        ("team/app", ImageRef(None, "team/app", None, None)),
        (
            "aws-observability/aws-otel-collector:latest",
            ImageRef(None, "aws-observability/aws-otel-collector", "latest", None),
        ),
    ],
)
def test_image_references_are_parsed(ref: str, expected: ImageRef) -> None:
    assert parse_image_ref(ref) == expected


@pytest.mark.parametrize(
    ("server", "repository", "tag"),
    [(None, "app", "1.0.0"), ("127.0.0.1:5000", "team/app", "sha-abc1234"), (ECR, "app", "x")],
)
def test_a_built_reference_parses_back_to_its_parts(
    server: str | None, repository: str, tag: str
) -> None:
    assert parse_image_ref(image_ref(server, repository, tag)) == (server, repository, tag, None)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (f"{ECR}/app:1.2.3", ("123456789012", "app", "ap-northeast-2")),
        (f"{ECR}/team/app@sha256:ab", ("123456789012", "team/app", "ap-northeast-2")),
        ("127.0.0.1:5000/team/app:1.0", (None, "team/app", None)),
        ("app:1.0", (None, "app", None)),
    ],
)
def test_ecr_references_name_their_registry_and_region(
    image: str, expected: tuple[str | None, str, str | None]
) -> None:
    assert parse_ecr_image(image) == expected
