"""AWS refusals the real service gives and moto cannot: injected through botocore's own
`before-call` hook, so the client's error parsing and shipyard's translation run unchanged."""

from __future__ import annotations

from typing import Any


class DeniedFor:
    """Answer AccessDenied to every call whose request names `resource`, as IAM does for a
    role without the permission on it. Register with
    `client.meta.events.register_first("before-call.ecs.DescribeServices", DeniedFor(name))`."""

    def __init__(self, resource: str) -> None:
        self.resource = resource

    def __call__(self, params: dict[str, Any], **_: Any) -> Any:
        if self.resource not in str(params.get("body", "")):
            return None
        error = {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}
        return type("Http", (), {"status_code": 400, "headers": {}})(), error
