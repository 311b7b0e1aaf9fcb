"""moto server states that its API cannot create by itself, through its documented back doors."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def scan_results(
    endpoint: str,
    repository: str,
    image_id: dict[str, str],
    findings: list[dict[str, Any]],
    *,
    status: str = "COMPLETE",
    region: str = "ap-northeast-2",
    account: str = "123456789012",
) -> None:
    """Set an image's ECR scan result (POST /moto-api/static/ecr/scan-finding-results);
    `image_id` is {"imageDigest": ...} or {"imageTag": ...}."""
    result = {
        "registryId": account,
        "repositoryName": repository,
        "imageId": image_id,
        "imageScanStatus": {"status": status, "description": f"status {status}"},
        "imageScanFindings": {"findings": findings, "findingSeverityCounts": {}},
    }
    request = urllib.request.Request(
        f"{endpoint}/moto-api/static/ecr/scan-finding-results",
        data=json.dumps({"results": [result], "region": region}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).read()


def cve(identifier: str, severity: str, package: str = "openssl") -> dict[str, Any]:
    """One finding as ECR's basic scanning reports it."""
    return {
        "name": identifier,
        "uri": f"https://cve.example/{identifier}",
        "severity": severity,
        "attributes": [
            {"key": "package_name", "value": package},
            {"key": "package_version", "value": "1.0"},
        ],
    }
