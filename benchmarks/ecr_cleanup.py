"""ECR cleanup of 5,000 images: shipyard's batched cleanup against deleting one by one.

Target (issue 4): at most 60 ECR API calls for 5,000 images. Both runs go through moto in
server mode (ThreadedMotoServer); calls are counted with a botocore `before-call.ecr` hook on
the client. moto answers describe_images in a single page while real ECR pages by 1,000, so
the figure checked against the target is the projected one: measured calls with the listing
counted as ceil(images / 1000) pages.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

IMAGES = 5_000
TARGET_CALLS = 60
SAMPLE = 500  # one-by-one deletions actually timed
REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
ROOT = Path(__file__).resolve().parents[1]


def _manifest(n: int) -> tuple[str, str]:
    layer = hashlib.sha256(f"layer-{n}".encode()).hexdigest()
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": n,
            "digest": "sha256:" + hashlib.sha256(f"config-{n}".encode()).hexdigest(),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": n,
                "digest": f"sha256:{layer}",
            }
        ],
    }
    text = json.dumps(doc, separators=(",", ":"))
    return text, "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _fill(client: Any, repository: str) -> dict[str, str]:
    """5,000 images straight into moto's in-process backend (setting up is not measured):
    4,000 releases 0.<n//100>.<n%100>, 1,000 untagged. Returns version -> digest."""
    from moto.ecr.models import ecr_backends

    client.create_repository(repositoryName=repository)
    backend = ecr_backends[ACCOUNT][REGION]
    releases: dict[str, str] = {}
    for n in range(IMAGES):
        text, digest = _manifest(n)
        tag = f"0.{n // 100}.{n % 100}" if n < 4_000 else None
        backend.put_image(repository, text, tag, digest=digest)
        if tag:
            releases[tag] = digest
    return releases


class Counted:
    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        client.meta.events.register("before-call.ecr", self._count)

    def _count(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def _project(tmp: Path, repository: str) -> Path:
    shutil.copytree(ROOT / "deploy", tmp / "deploy")
    shutil.copy(ROOT / "version.txt", tmp / "version.txt")
    base = tmp / "deploy" / "shipyard.toml"
    base.write_text(
        base.read_text().replace('repository = "gamepulse"', f'repository = "{repository}"')
    )
    return tmp


def _deploy(aws: Any, repository: str, releases: dict[str, str]) -> set[str]:
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName="gamepulse-cluster")
    server = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"
    images = {
        "gamepulse-staging": f"{server}/{repository}:0.1.5",
        "gamepulse-production": f"{server}/{repository}@{releases['0.0.7']}",
    }
    for service, image in images.items():
        arn = ecs.register_task_definition(
            family=service, containerDefinitions=[{"name": "app", "image": image, "memory": 128}]
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(cluster="gamepulse-cluster", serviceName=service, taskDefinition=arn)
    return {releases["0.1.5"], releases["0.0.7"]}


def _remaining(client: Any, repository: str) -> set[str]:
    pages = client.get_paginator("describe_images").paginate(repositoryName=repository)
    return {d["imageDigest"] for page in pages for d in page["imageDetails"]}


def run() -> int:
    from moto.server import ThreadedMotoServer

    from shipyard.config.loader import load_config
    from shipyard.console import Console
    from shipyard.context import Context
    from shipyard.operations import ecr_cleanup

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": REGION,
        }
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench-ecr-"))
    try:
        repository = "bench-shipyard"
        root = _project(tmp / "shipyard", repository)
        ctx = Context(load_config("staging", root=root), root, Console(quiet=True))
        client = ctx.aws.client("ecr")
        releases = _fill(client, repository)
        deployed = _deploy(ctx.aws, repository, releases)
        counted = Counted(client)
        started = time.perf_counter()
        result = ecr_cleanup.run(
            ctx, ecr_cleanup.EcrCleanupOptions(keep_releases=10, untagged_days=0)
        )
        ours_seconds = time.perf_counter() - started
        ours = dict(counted.calls)
        ours_total = counted.total
        left = _remaining(client, repository)
        listing = ours.get("DescribeImages", 0)
        projected = ours_total - listing + math.ceil(IMAGES / 1000)

        naive_repo = "bench-one-by-one"
        _fill(client, naive_repo)
        naive = Counted(client)
        started = time.perf_counter()
        # the same images shipyard deleted, listed the same way, then deleted one per call;
        # timed on the first SAMPLE deletions (moto takes ~20 ms per call), the call count is
        # exact: one per image
        listed = _remaining(client, naive_repo)
        doomed = [d for d in result.deleted if d in listed]
        for digest in doomed[:SAMPLE]:
            client.batch_delete_image(repositoryName=naive_repo, imageIds=[{"imageDigest": digest}])
        sample_seconds = time.perf_counter() - started
        naive_calls = naive.total - SAMPLE + len(doomed)
        naive_seconds = sample_seconds * len(doomed) / SAMPLE
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    kept_deployed = deployed <= left
    print(f"images: {IMAGES}, deleted by shipyard: {len(result.deleted)}, kept: {len(left)}")
    print(f"shipyard: {ours_total} ECR calls measured {ours} in {ours_seconds:.1f}s")
    print(
        f"shipyard on real ECR (listing in 1000-image pages): {projected} calls "
        f"(target <= {TARGET_CALLS})"
    )
    print(
        f"one by one: {naive_calls} ECR calls, ~{naive_seconds:.0f}s (timed {SAMPLE} deletions "
        f"in {sample_seconds:.1f}s); {naive_calls / max(projected, 1):.0f}x the calls"
    )
    print(f"deployed images kept: {'yes' if kept_deployed else 'NO'}")
    ok = projected <= TARGET_CALLS and kept_deployed and result.ok
    print("target met" if ok else "TARGET MISSED")
    return 0 if ok else 1


def main() -> int:
    saved = dict(os.environ)
    try:
        return run()
    finally:
        os.environ.clear()
        os.environ.update(saved)


if __name__ == "__main__":
    raise SystemExit(main())
