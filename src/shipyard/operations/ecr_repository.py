"""inv ecr-repo: make the ECR repository match the config, idempotently.

Created when missing (scan on push, tag mutability, encryption); settings that drifted are put
back; the lifecycle policy is rendered from config and written only when it differs from the
live one, with the difference shown. Tag mutability is checked against the tag strategy first:
an IMMUTABLE repository refuses a moving `latest` or date tag on its second push, so that
conflict is reported here, before anything is built or pushed.
"""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any

from shipyard.adapters.ecr import EcrRegistry, RepositoryState, encryption_configuration
from shipyard.config.aws import LifecyclePolicyConfig
from shipyard.config.model import EcrRegistryConfig
from shipyard.errors import UsageError
from shipyard.plan import Plan
from shipyard.records import record
from shipyard.tag_mutability import check_tag_mutability

if TYPE_CHECKING:
    from shipyard.console import Console
    from shipyard.context import Context


@record
class EcrRepositoryOptions:
    dry_run: bool = False
    latest: bool | None = None  # will `latest` be pushed (the --latest flag)?


@record
class SettingChange:
    setting: str
    live: str
    wanted: str
    action: str  # "create", "update", "keep" or "cannot change"


@record
class EcrRepositoryResult:
    repository: str  # <server>/<name>
    created: bool
    changes: tuple[SettingChange, ...]
    policy_diff: tuple[str, ...]  # unified diff, live -> rendered; empty when equal
    dry_run: bool = False
    plan: Plan | None = None

    @property
    def changed(self) -> bool:
        return (
            self.created
            or bool(self.policy_diff)
            or any(c.action in ("create", "update") for c in self.changes)
        )


def render_lifecycle_policy(cfg: LifecyclePolicyConfig) -> dict[str, Any]:
    """The lifecycle policy as ECR expects it (pure). AWS applies it by itself and cannot know
    what is deployed, so it is a backstop with generous numbers; inv cleanup is the careful
    one."""
    return {
        "rules": [
            {
                "rulePriority": 1,
                "description": f"expire untagged images after {cfg.untagged_days} days",
                "selection": {
                    "tagStatus": "untagged",
                    "countType": "sinceImagePushed",
                    "countUnit": "days",
                    "countNumber": cfg.untagged_days,
                },
                "action": {"type": "expire"},
            },
            {
                "rulePriority": 2,
                "description": f"keep the newest {cfg.keep_releases} version-tagged images",
                "selection": {
                    "tagStatus": "tagged",
                    "tagPatternList": ["*.*.*"],
                    "countType": "imageCountMoreThan",
                    "countNumber": cfg.keep_releases,
                },
                "action": {"type": "expire"},
            },
        ]
    }


def policy_text(policy: dict[str, Any] | None) -> list[str]:
    if policy is None:
        return []
    return json.dumps(policy, indent=2, sort_keys=True).splitlines()


def policy_diff(live: dict[str, Any] | None, wanted: dict[str, Any]) -> list[str]:
    if live == wanted:
        return []
    return list(
        difflib.unified_diff(
            policy_text(live), policy_text(wanted), "live policy", "rendered policy", lineterm=""
        )
    )


def compare(state: RepositoryState | None, cfg: EcrRegistryConfig) -> list[SettingChange]:
    """What differs between the live repository and the config (pure)."""
    wanted_encryption = encryption_configuration(cfg)
    wanted_mutability = cfg.tag_mutability + (
        f" {sorted(cfg.mutable_tags)}" if cfg.tag_mutability == "IMMUTABLE_WITH_EXCLUSION" else ""
    )
    wanted_kms = wanted_encryption.get("kmsKey", "")
    if state is None:
        return [
            SettingChange("repository", "missing", "present", "create"),
            SettingChange("scan on push", "-", str(cfg.scan_on_push).lower(), "create"),
            SettingChange("tag mutability", "-", wanted_mutability, "create"),
            SettingChange("encryption", "-", f"{cfg.encryption} {wanted_kms}".strip(), "create"),
        ]
    live_mutability = state.tag_mutability + (
        f" {sorted(state.mutable_tags)}"
        if state.tag_mutability == "IMMUTABLE_WITH_EXCLUSION"
        else ""
    )
    live_encryption = f"{state.encryption} {state.kms_key or ''}".strip()
    wanted_encryption_text = f"{cfg.encryption} {wanted_kms}".strip()
    encryption_same = state.encryption == cfg.encryption and (
        not wanted_kms or wanted_kms == state.kms_key
    )
    return [
        SettingChange(
            "scan on push",
            str(state.scan_on_push).lower(),
            str(cfg.scan_on_push).lower(),
            "keep" if state.scan_on_push == cfg.scan_on_push else "update",
        ),
        SettingChange(
            "tag mutability",
            live_mutability,
            wanted_mutability,
            "keep" if live_mutability == wanted_mutability else "update",
        ),
        SettingChange(
            "encryption",
            live_encryption,
            wanted_encryption_text,
            "keep" if encryption_same else "cannot change",
        ),
    ]


def run(ctx: Context, opts: EcrRepositoryOptions) -> EcrRepositoryResult:
    reg = ctx.config.registry
    if not isinstance(reg, EcrRegistryConfig):
        raise UsageError(
            f"environment {ctx.environment} does not use ECR (registry.kind = {reg.kind!r})",
            hint="run it for an environment whose registry.kind is 'ecr', e.g. --env staging",
        )
    # The conflict is a property of the config: report it before touching anything.
    check_tag_mutability(reg, ctx.config.image.tags, latest=opts.latest)
    registry = ctx.registry
    assert isinstance(registry, EcrRegistry)
    name = ctx.config.image.repository
    state = registry.repository(name)
    changes = compare(state, reg)
    wanted_policy = render_lifecycle_policy(reg.lifecycle) if reg.lifecycle.enabled else None
    live_policy = registry.lifecycle_policy(name) if state is not None else None
    diff = policy_diff(live_policy, wanted_policy) if wanted_policy is not None else []
    full_name = f"{registry.server}/{name}"
    if opts.dry_run:
        plan = Plan(f"ensure ECR repository {full_name}")
        for change in changes:
            if change.action != "keep":
                plan.add(change.action, f"{change.setting}: {change.live} -> {change.wanted}")
        if diff:
            plan.add("put lifecycle policy", "the rendered policy (difference below)")
        if not plan.steps:
            plan.add("none", "the repository already matches the config")
        return EcrRepositoryResult(
            full_name, state is None, tuple(changes), tuple(diff), True, plan
        )
    created = False
    if state is None:
        ctx.console.progress(f"creating ECR repository {name}")
        registry.create_repository(name)
        created = True
    else:
        for change in changes:
            if change.action != "update":
                continue
            if change.setting == "scan on push":
                registry.set_scan_on_push(name, reg.scan_on_push)
            elif change.setting == "tag mutability":
                registry.set_tag_mutability(name)
    if wanted_policy is not None and diff:
        registry.put_lifecycle_policy(name, wanted_policy)
    return EcrRepositoryResult(full_name, created, tuple(changes), tuple(diff))


def show(result: EcrRepositoryResult, console: Console) -> None:
    if result.plan:
        result.plan.show(console)
    else:
        console.table(
            ["setting", "live", "wanted", "action"],
            [[c.setting, c.live, c.wanted, c.action] for c in result.changes],
            title=f"ECR repository {result.repository}" + (" (created)" if result.created else ""),
        )
    if result.policy_diff:
        verb = "would change" if result.dry_run else "changed"
        console.line(f"lifecycle policy {verb}:")
        for line in result.policy_diff:
            console.line(line)
    else:
        console.line("lifecycle policy: unchanged")
    for change in result.changes:
        if change.action == "cannot change":
            console.warn(
                f"{change.setting} is {change.live}, config wants {change.wanted}: ECR fixes it "
                "at creation; create a new repository to change it"
            )
    if not result.dry_run:
        console.line(
            f"{result.repository}: {'updated' if result.changed else 'already up to date'}"
        )
