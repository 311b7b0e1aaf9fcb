"""Pre-flight: the whole environment validated before anything is written, built or pushed.

`inv release` and `inv deploy` call check_environment first. It renders the task definition(s)
exactly as the deploy will (the local target's render, or the ECS target's for every service,
with a placeholder image pinned by digest), checks every container definition
(taskdef_rules), the target's settings and the inputs the build reads, and raises one
ConfigError (exit 2) at the first problem: the file, the key path, what is expected.

It talks to neither Docker nor AWS: the account id in ECS renderings comes from the config or
is a placeholder, never from STS. What only those can tell (an alarm, an image the engine lacks,
an SSM parameter) is still checked by the deploy itself.
"""

from __future__ import annotations

import functools
import re
import shutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar, cast

from shipyard.adapters.ports import port_holder
from shipyard.config.loader import BASE_FILE, ENV_DIR, read_toml
from shipyard.config.targets import (
    EcsBlueGreenTargetConfig,
    EcsServiceConfig,
    EcsTargetConfig,
    LocalTargetConfig,
)
from shipyard.container_run import check_env_entry
from shipyard.errors import ConfigError, ShipyardError, UsageError
from shipyard.targets import get_target
from shipyard.taskdef import MissingContainer, Rendered, load_file
from shipyard.taskdef_local import secret_ref
from shipyard.taskdef_rules import CD, Key, Problem, Ref, check

if TYPE_CHECKING:
    from shipyard.config.base import SecretRef
    from shipyard.context import Context
    from shipyard.secrets import Secret
    from shipyard.targets.ecs_base import EcsBase
    from shipyard.targets.ecs_bluegreen import EcsBlueGreenTarget
    from shipyard.targets.local import LocalTarget

PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
PLACEHOLDER_ACCOUNT = "000000000000"
PLACEHOLDER_VERSION = "0.0.0"
P = ParamSpec("P")
R = TypeVar("R")
_ABSENT: Any = object()
ConfigKey = tuple[str | int, ...]  # a key path of the configuration: ("taskdef", "container")
Sources = list[tuple[str, dict[str, Any]]]  # (file, its content as written), lowest first


def check_environment(ctx: Context, *, build: bool = True) -> None:
    """Raise ConfigError (exit 2) at the first bad input of `ctx`'s environment, or
    ToolUnavailable (exit 1) when another process holds the local proxy port; change nothing.
    `build`: also check what `inv build` reads (image.context, image.dockerfile)."""
    if build:
        _build_inputs(ctx)
    _registry_password(ctx)
    target = ctx.config.target
    if isinstance(target, LocalTargetConfig):
        _local(ctx, target)
    elif isinstance(target, EcsTargetConfig):
        _ecs(ctx, target)


def checked_first(
    fn: Callable[Concatenate[Context, P], R],
) -> Callable[Concatenate[Context, P], R]:
    """Decorator: check_environment(ctx) before the decorated function does anything."""

    @functools.wraps(fn)
    def checked(ctx: Context, /, *args: P.args, **kwargs: P.kwargs) -> R:
        check_environment(ctx)
        return fn(ctx, *args, **kwargs)

    return checked


# -- where a config key was set ---------------------------------------------------------------
def config_file(ctx: Context, *path: str | int) -> str:
    """The file that sets `path` (environment file over shipyard.toml); the environment's file
    when neither does (the value is the default)."""
    env_file = f"{ENV_DIR}/{ctx.environment}.toml"
    for rel in (env_file, str(BASE_FILE)):
        try:
            node: Any = read_toml(ctx.root / rel, ctx.root)
        except ConfigError:
            continue
        for key in path:
            if isinstance(key, int):
                node = node[key] if isinstance(node, list) and key < len(node) else None
            else:
                node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return rel
    return env_file


def dotted(path: ConfigKey) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")


def _config_error(ctx: Context, path: ConfigKey, what: str, hint: str) -> ConfigError:
    return ConfigError(f"{config_file(ctx, *path)}: {dotted(path)}: {what}", hint=hint)


# -- build and registry -----------------------------------------------------------------------
def _build_inputs(ctx: Context) -> None:
    image = ctx.config.image
    context = ctx.path(image.context)
    if not context.is_dir():
        raise _config_error(
            ctx,
            ("image", "context"),
            f"expected a directory of the checkout, {image.context!r} is none",
            "the build context: the directory that holds the Dockerfile",
        )
    if not (context / image.dockerfile).is_file():
        raise _config_error(
            ctx,
            ("image", "dockerfile"),
            f"{image.context}/{image.dockerfile} does not exist",
            "image.dockerfile is relative to image.context",
        )


def _registry_password(ctx: Context) -> None:
    """An env or file reference must resolve now; SSM and Secrets Manager need AWS (later)."""
    registry = ctx.config.registry
    if registry.kind != "oci" or registry.password is None:
        return
    if not (registry.password.env or registry.password.file):
        return
    try:
        ctx.secret(registry.password)
    except UsageError as exc:
        raise ConfigError(
            f"{config_file(ctx, 'registry', 'password')}: registry.password: {exc.message}",
            hint=exc.hint,
        ) from None


# -- the task definition ----------------------------------------------------------------------
def rendered_and_checked(
    ctx: Context,
    files: list[tuple[str, ConfigKey]],
    render: Callable[[], Rendered],
    *,
    app: str,
    app_key: ConfigKey,
    ecs: bool,
) -> tuple[Rendered, Sources]:
    """Render through `render` (the target's own), then check every container definition.
    `files`: the task definition files the rendering reads, each with the key that names it."""
    for rel, key in files:
        if not ctx.path(rel).is_file():
            raise _config_error(
                ctx, key, f"{rel} does not exist", "name a task definition file of the checkout"
            )
    sources: Sources = [(rel, load_file(ctx.path(rel), ctx.root)) for rel, _ in files]
    for rel, doc in sources:
        _shape(rel, doc)
    try:
        rendered = render()
    except MissingContainer as exc:
        raise _config_error(
            ctx,
            app_key,
            f"{exc.name!r} is not a container of {' + '.join(r for r, _ in sources)} "
            f"(it has: {', '.join(exc.names) or 'none'})",
            "name the container whose image each release sets",
        ) from None
    try:
        check(rendered.document, app=app, ecs=ecs)
    except Problem as problem:
        raise located(sources, problem) from None
    return rendered, sources


def _shape(rel: str, doc: dict[str, Any]) -> None:
    """The name-keyed lists of one file must be lists of objects before they can be merged."""
    for key in (CD, "volumes"):
        if key not in doc:
            continue
        items = doc[key]
        if not isinstance(items, list):
            raise ConfigError(f"{rel}: {key}: expected a list of objects, got {items!r}")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ConfigError(f"{rel}: {key}[{i}]: expected an object, got {item!r}")


def located(sources: Sources, problem: Problem) -> ConfigError:
    rel, shown = locate(sources, problem.path)
    return ConfigError(f"{rel}: {shown}: {problem.what}", hint=problem.hint)


def locate(sources: Sources, path: tuple[Key, ...]) -> tuple[str, str]:
    """(file, shown path): the last file that holds the longest part of `path`, which is the
    one whose value the rendering kept. Every file when none holds the entry `path` names."""
    best = (-1, sources[-1][0], "")
    for rel, doc in reversed(sources):
        depth, shown = _walk(doc, path)
        if depth > best[0]:
            best = (depth, rel, shown)
    depth, rel, shown = best
    refs = [i for i, key in enumerate(path) if isinstance(key, Ref)]
    if refs and depth <= refs[0] and len(sources) > 1:
        rel = " + ".join(r for r, _ in sources)
    return rel, shown


def _walk(doc: Any, path: tuple[Key, ...]) -> tuple[int, str]:
    node: Any = doc
    depth = 0
    shown = ""
    alive = True
    for key in path:
        found: Any = _ABSENT
        if isinstance(key, Ref):
            index = _find(node, key) if alive else None
            found = node[index] if index is not None else _ABSENT
            label = key.name if key.named else (key.index if index is None else index)
            shown += f"[{label}]"
        elif isinstance(key, int):
            has = alive and isinstance(node, list) and key < len(node)
            found = node[key] if has else _ABSENT
            shown += f"[{key}]"
        else:
            found = node[key] if alive and isinstance(node, dict) and key in node else _ABSENT
            shown += f".{key}" if shown else key
        if found is _ABSENT or not alive:
            alive = False
            continue
        node = found
        depth += 1
    return depth, shown


def _find(items: Any, ref: Ref) -> int | None:
    if not isinstance(items, list):
        return None
    matches = [
        i for i, item in enumerate(items) if isinstance(item, dict) and item.get("name") == ref.name
    ]
    wanted = 1 if ref.duplicate else 0
    return matches[wanted] if len(matches) > wanted else None


# -- the local target -------------------------------------------------------------------------
def _local(ctx: Context, cfg: LocalTargetConfig) -> None:
    exe = shutil.which(cfg.nginx) or shutil.which(cfg.nginx, path="/usr/sbin:/sbin")
    if exe is None:
        raise _config_error(
            ctx,
            ("target", "nginx"),
            f"{cfg.nginx!r} is not an executable on PATH",
            "install nginx (scripts/bootstrap.sh does) or set target.nginx to its path",
        )
    target = cast("LocalTarget", get_target(ctx))  # the configured kind: local
    image = f"{_registry_server(ctx)}/{ctx.config.image.repository}@{PLACEHOLDER_DIGEST}"
    files: list[tuple[str, ConfigKey]] = [(ctx.config.taskdef.base, ("taskdef", "base"))]
    files += [(rel, ("taskdef", "overlay")) for rel in target.overlays()]
    rendered, sources = rendered_and_checked(
        ctx,
        files,
        lambda: target.rendered(image),
        app=target.app,
        app_key=("taskdef", "container"),
        ecs=False,
    )
    _as_docker(target, rendered)
    _local_secrets(ctx, target, rendered, sources)
    _proxy_port(target)


def _registry_server(ctx: Context) -> str:
    registry = ctx.config.registry
    if registry.kind == "oci":
        return re.sub(r"^https?://", "", registry.url).rstrip("/") or "registry"
    account = registry.account_id or ctx.config.aws.account_id or PLACEHOLDER_ACCOUNT
    return f"{account}.dkr.ecr.{registry.region or ctx.config.aws.region}.amazonaws.com"


def _as_docker(target: LocalTarget, rendered: Rendered) -> None:
    """The local target's own mapping onto Docker (local_spec.to_local), its lines prefixed
    with the files rendered; a shape it cannot read is a ConfigError, never a traceback."""
    files = " + ".join(rendered.sources)
    try:
        target.task(rendered.document)
    except ShipyardError as exc:
        raise ConfigError(f"{files}: {exc.message}", hint=exc.hint) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"{files}: the local target cannot read this task definition "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _local_secrets(ctx: Context, target: LocalTarget, rendered: Rendered, sources: Sources) -> None:
    """Every secret a container gets resolves now, as the deploy will: an env: variable set, a
    file: reference inside the roots allowed for container secrets (symlinks resolved) and
    readable, or under the environment's state directory (generated on first use), and a value
    an --env-file can carry (one line, no NUL)."""

    for ci, container in enumerate(rendered.document[CD]):
        for si, entry in enumerate(container.get("secrets") or []):
            ref = secret_ref(str(entry["valueFrom"]), where="")
            path: tuple[Key, ...] = (CD, Ref(ci, container["name"]), "secrets", si, "valueFrom")
            try:
                secret = _local_secret(ctx, target, ref)
                if secret is not None:
                    check_env_entry(str(entry["name"]), secret)
            except UsageError as exc:
                raise located(sources, Problem(path, exc.message, hint=exc.hint)) from None


def _local_secret(ctx: Context, target: LocalTarget, ref: SecretRef) -> Secret | None:
    """`ref` resolved for delivery into a container; None when the deploy generates it, or
    when only AWS can tell (checked by the deploy itself)."""
    if ref.env and not ctx.environ.get(ref.env):
        raise UsageError(
            f"env:{ref.env}: the environment variable {ref.env} is not set",
            hint=f"export {ref.env} before running shipyard",
        )
    if ref.file:
        path = ctx.secret_path(ref, into_container=True)
        if path.is_relative_to(target.state_path.resolve()) and not path.exists():
            return None
        if not path.is_file():
            raise UsageError(
                f"file:{ref.file}: cannot read it",
                hint=f"create it, or name a file under .shipyard/{ctx.environment}/ "
                "(generated on first use)",
            )
    if ref.env or ref.file:
        return ctx.secret(ref, into_container=True)
    return None


def _proxy_port(target: LocalTarget) -> None:
    """Someone else on the proxy port fails now (exit 1), not after the push."""

    proxy = target.proxy
    if proxy.running():
        return
    holder = port_holder(proxy.port)
    if holder is not None and holder.nginx_conf != str(proxy.conf):
        proxy.refuse_if_taken()


# -- ECS targets ------------------------------------------------------------------------------
def _ecs(ctx: Context, cfg: EcsTargetConfig) -> None:
    target = cast("EcsBase", get_target(ctx))  # the configured kind: ecs or ecs-bluegreen
    # an ECR reference: the ECS target takes the account id from it instead of asking STS
    image = f"{_ecr_server(ctx)}/{ctx.config.image.repository}@{PLACEHOLDER_DIGEST}"
    for i, scfg in enumerate(cfg.services):
        app_key: ConfigKey = ("taskdef", "container")
        if scfg.container:
            app_key = ("target", "services", i, "container")
        files: list[tuple[str, ConfigKey]] = [(ctx.config.taskdef.base, ("taskdef", "base"))]
        for rel in target.overlays(scfg):
            own = rel == scfg.taskdef_overlay
            files.append(
                (
                    rel,
                    ("target", "services", i, "taskdef_overlay") if own else ("taskdef", "overlay"),
                )
            )
        rendered, _ = rendered_and_checked(
            ctx,
            files,
            _ecs_render(target, scfg, image),
            app=target.container_of(scfg),
            app_key=app_key,
            ecs=True,
        )
        if isinstance(cfg, EcsBlueGreenTargetConfig):
            _load_balanced_port(ctx, target, i, rendered)
            bluegreen = cast("EcsBlueGreenTarget", target)
            bluegreen.appspec(scfg, "<new revision>")  # its own lines name the AppSpec file


def _ecs_render(target: EcsBase, scfg: EcsServiceConfig, image: str) -> Callable[[], Rendered]:
    return lambda: target.render(scfg, image, PLACEHOLDER_VERSION)


def _ecr_server(ctx: Context) -> str:
    registry = ctx.config.registry
    account = ctx.config.aws.account_id
    region = ctx.config.aws.region
    if registry.kind == "ecr":
        account = account or registry.account_id
        region = registry.region or region
    return f"{account or PLACEHOLDER_ACCOUNT}.dkr.ecr.{region}.amazonaws.com"


def _load_balanced_port(ctx: Context, target: EcsBase, i: int, rendered: Rendered) -> None:
    scfg = target.cfg.services[i]
    app = target.container_of(scfg)
    ports = [pm.get("containerPort") for pm in rendered.container(app).get("portMappings") or []]
    if scfg.container_port not in ports:
        raise _config_error(
            ctx,
            ("target", "services", i, "container_port"),
            f"{scfg.container_port} is not a containerPort of container {app!r} "
            f"({' + '.join(rendered.sources)} maps {', '.join(map(str, ports)) or 'none'})",
            "CodeDeploy sends the load balancer's traffic to this port of the container",
        )


__all__ = ["check_environment", "checked_first", "config_file", "locate"]
