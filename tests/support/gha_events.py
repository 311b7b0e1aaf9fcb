"""The events a rehearsed workflow runs for (push, pull_request, release, workflow_dispatch):
Event holds what GitHub gives a run for one, its ref, commit, payload and inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    name: str  # push | pull_request | release | workflow_dispatch
    ref: str
    sha: str
    payload: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    run_number: int = 1
    head_ref: str = ""
    base_ref: str = ""

    @property
    def ref_type(self) -> str:
        return "tag" if self.ref.startswith("refs/tags/") else "branch"

    @property
    def ref_name(self) -> str:
        for prefix in ("refs/heads/", "refs/tags/", "refs/pull/"):
            if self.ref.startswith(prefix):
                return self.ref.removeprefix(prefix)
        return self.ref

    @classmethod
    def push(cls, branch: str, sha: str, *, run_number: int) -> Event:
        ref = f"refs/heads/{branch}"
        return cls("push", ref, sha, {"ref": ref, "after": sha}, run_number=run_number)

    @classmethod
    def pull_request(
        cls, number: int, merge_sha: str, head: str, base: str, *, run_number: int
    ) -> Event:
        payload = {
            "action": "opened",
            "number": number,
            "pull_request": {"number": number, "head": {"ref": head}, "base": {"ref": base}},
        }
        return cls(
            "pull_request",
            f"refs/pull/{number}/merge",
            merge_sha,
            payload,
            run_number=run_number,
            head_ref=head,
            base_ref=base,
        )

    @classmethod
    def release(cls, tag: str, sha: str, *, run_number: int) -> Event:
        payload = {"action": "published", "release": {"tag_name": tag, "draft": False}}
        return cls("release", f"refs/tags/{tag}", sha, payload, run_number=run_number)

    @classmethod
    def dispatch(
        cls, branch: str, sha: str, inputs: Mapping[str, Any], *, run_number: int
    ) -> Event:
        ref = f"refs/heads/{branch}"
        return cls(
            "workflow_dispatch",
            ref,
            sha,
            {"inputs": dict(inputs), "ref": ref},
            dict(inputs),
            run_number=run_number,
        )
