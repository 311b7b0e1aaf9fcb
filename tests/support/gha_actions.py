"""The actions a rehearsal emulates instead of running them (`uses:`): actions/checkout,
actions/setup-python, aws-actions/configure-aws-credentials, actions/upload-artifact, and
the ones only recorded (github/codeql-action/*). Each is an ActionHandler."""

from __future__ import annotations

import uuid

from tests.support.gha_job import StepFailed, _JobState
from tests.support.gha_origin import git
from tests.support.gha_results import Credentials, StepRun


def _checkout(state: _JobState, step: StepRun, with_: dict[str, str]) -> None:
    """actions/checkout: a clone of the origin at the event's commit into the workspace,
    `fetch-depth` commits deep (default 1; 0 = all history and tags), on a local branch for
    a branch ref and detached for a tag or a pull request's merge ref, as the action does."""
    event = state.event
    origin = state.rehearsal.origin.path
    ws = state.workspace
    depth = int(with_.get("fetch-depth") or 1)
    ref = with_.get("ref") or event.ref
    sha = event.sha if not with_.get("ref") else state.rehearsal.origin.sha(ref)
    url = origin.resolve().as_uri()
    git(ws, "init", "-q")
    git(ws, "remote", "add", "origin", url)
    if ref.startswith("refs/heads/"):
        local = f"refs/remotes/origin/{ref.removeprefix('refs/heads/')}"
    elif ref.startswith("refs/pull/"):
        local = f"refs/remotes/pull/{ref.removeprefix('refs/pull/')}"
    else:
        local = ref
    fetch = ["fetch", "-q", "--prune", "--no-recurse-submodules"]
    if depth > 0:
        fetch += ["--no-tags", f"--depth={depth}", "origin", f"+{sha}:{local}"]
    else:  # the action's refspecs for all history: every branch and tag (and a PR's ref)
        fetch += ["origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
        if ref.startswith("refs/pull/"):
            fetch.append(f"+{sha}:{local}")
    git(ws, *fetch)
    if depth > 0 and with_.get("fetch-tags") == "true":
        git(ws, "fetch", "-q", "--tags", f"--depth={depth}", "origin")
    if ref.startswith("refs/heads/"):
        branch = ref.removeprefix("refs/heads/")
        git(ws, "checkout", "-q", "--force", "-B", branch, local)
    else:
        git(ws, "checkout", "-q", "--force", "--detach", sha)
    step.notes.append(f"checked out {ref} at {sha[:7]} (depth {depth or 'all'})")
    if state.rehearsal.prepare_workspace is not None:
        added = dict(state.rehearsal.prepare_workspace(state.name, ws) or {})
        state.run.workspace_env.update(added)
        state.env.update(added)


def _setup_python(state: _JobState, step: StepRun, with_: dict[str, str]) -> None:
    step.notes.append(f"python-version {with_.get('python-version')}: this machine's python3")
    step.outputs = {"python-version": with_.get("python-version", "")}


def _configure_aws_credentials(state: _JobState, step: StepRun, with_: dict[str, str]) -> None:
    """aws-actions/configure-aws-credentials with OIDC: the job's AWS environment becomes
    the Rehearsal's (moto). Fails as the action does without id-token: write or a role."""
    role = with_.get("role-to-assume", "")
    region = with_.get("aws-region", "")
    if not region:
        raise StepFailed("Input required and not supplied: aws-region")
    has_keys = bool(with_.get("aws-access-key-id"))
    if not role and not has_keys:
        raise StepFailed("Credentials could not be loaded, please check your action inputs")
    if role and not has_keys and state.permissions().get("id-token") != "write":
        raise StepFailed(
            "Could not get ID token: the job needs permissions: id-token: write for OIDC"
        )
    repo = state.rehearsal.origin.repository
    if state.run.environment:
        subject = f"repo:{repo}:environment:{state.run.environment}"
    elif state.event.name == "pull_request":
        subject = f"repo:{repo}:pull_request"
    else:
        subject = f"repo:{repo}:ref:{state.event.ref}"
    state.run.credentials.append(
        Credentials(role, with_.get("role-session-name", "GitHubActions"), region, subject)
    )
    aws = dict(state.rehearsal.aws_env)
    aws.update(
        {
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_SESSION_TOKEN": f"rehearsal-{uuid.uuid4().hex}",
        }
    )
    aws.setdefault("AWS_ACCESS_KEY_ID", "ASIAREHEARSAL")
    aws.setdefault("AWS_SECRET_ACCESS_KEY", "rehearsal-secret")
    state.env.update(aws)
    step.outputs = {"aws-account-id": state.rehearsal.account_id}


def _upload_artifact(state: _JobState, step: StepRun, with_: dict[str, str]) -> None:
    """actions/upload-artifact: which of the paths exist. As the action does, only finding
    no file at all is a warning (`warn`, the default) or a failure (`error`)."""
    paths = [p.strip() for p in with_.get("path", "").splitlines() if p.strip()]
    found = [p for p in paths if any(state.workspace.glob(p))]
    state.run.artifacts[with_.get("name", "artifact")] = found
    missing = [p for p in paths if p not in found]
    if missing:
        step.notes.append(f"not found: {', '.join(missing)}")
    if not found:
        message = f"No files were found with the provided path: {', '.join(paths)}"
        behaviour = with_.get("if-no-files-found", "warn")
        if behaviour == "error":
            raise StepFailed(message)
        if behaviour != "ignore":
            state.run.warnings.append(message)


def _skipped_action(state: _JobState, step: StepRun, with_: dict[str, str]) -> None:
    step.notes.append("not run by the rehearsal")
