"""Rehearse a GitHub Actions workflow on this machine: its jobs in the order of `needs`, each
`run:` line in a fresh checkout with the environment a hosted runner gives it.

    origin = Origin.from_working_tree(REPO, tmp, edit=...)    # the repository "on GitHub"
    sha = origin.commit("change", {"app/x": "..."})
    rehearsal = Rehearsal(origin, vars={"staging": {...}}, aws_env=moto.env())
    run = rehearsal.run(Event.push("main", sha, run_number=1))
    run.jobs["build"].outputs["version"]

What is GitHub's and is reproduced here:

- the event: GITHUB_EVENT_NAME/REF/REF_NAME/REF_TYPE/SHA/RUN_NUMBER/RUN_ID/REPOSITORY/..., the
  `github` context (also `github.event`, the payload), `inputs` (workflow_dispatch only, with
  the declared defaults), `vars` and `secrets` per environment (the job's `environment:`
  over the repository's), `needs.<job>.result/outputs`, `steps.<id>.outputs/outcome`;
- scheduling: jobs in topological order of `needs`; a job's `if:` (success() unless the
  condition names a status function) decides `skipped`; success() of a job is "every job it
  needs succeeded and no ancestor failed", failure() "some ancestor failed";
- steps: `if:` (default success()), `env:` (workflow < job < step), `${{ }}` in `run:`
  expanded before the shell sees it, `continue-on-error`,
  `working-directory`, `shell` (default `bash -e {0}`, `shell: bash` adds --noprofile
  --norc -o pipefail), `timeout-minutes`; fresh GITHUB_OUTPUT / GITHUB_ENV / GITHUB_PATH /
  GITHUB_STEP_SUMMARY files per step, read back after it (`key=value` and `key<<DELIM`);
  GITHUB_PATH lines go in front of PATH and GITHUB_ENV lines into the env of the job's later
  steps; job `outputs:` evaluated after the steps; outputs holding a secret's value are
  dropped, as GitHub does;
- `uses:` is not run. Emulated where later steps depend on it (ACTIONS):
  actions/checkout (a fresh clone of `origin` at the event's commit, depth `fetch-depth`,
  tags when the depth is 0 or `fetch-tags`), actions/setup-python (recorded),
  aws-actions/configure-aws-credentials (the AWS environment given to the Rehearsal, e.g.
  moto's; records role-to-assume and the OIDC subject the job would present, and fails as
  the action does without `id-token: write` or without a role), actions/upload-artifact
  (paths checked: a missing one fails with `if-no-files-found: error`, is a warning by
  default), github/codeql-action/* (skipped, recorded).

Not reproduced: the hosted runner image (the job runs on this machine, with its engine and
tools), parallel jobs (they run one after the other), concurrency groups and cancellation,
environment protection rules and reviewers, OIDC itself, artifacts' storage, log masking.
Jobs with `strategy`, `services`, `container` or a reusable workflow (`uses:`) are refused.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.gha import Status, condition, interpolate, load_workflow

WORKFLOW_DIR = Path(".github") / "workflows"
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Rehearsal",
    "GIT_AUTHOR_EMAIL": "rehearsal@example.com",
    "GIT_COMMITTER_NAME": "Rehearsal",
    "GIT_COMMITTER_EMAIL": "rehearsal@example.com",
}


def git(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **GIT_IDENTITY, **(env or {})},
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} in {cwd}: {proc.stderr.strip()}")
    return proc.stdout.strip()


# -- the repository on "GitHub" -------------------------------------------------------------------


@dataclass
class Origin:
    """The repository the workflow runs for: a clean git repository whose first commit holds
    the source tree's files as they are in its working tree (tracked ones and new ones git
    does not ignore), never .venv, .shipyard, reports or caches."""

    path: Path
    repository: str = "acme/gamepulse"

    @classmethod
    def from_working_tree(
        cls,
        source: Path,
        dest: Path,
        *,
        edit: Callable[[Path], None] | None = None,
        repository: str = "acme/gamepulse",
    ) -> Origin:
        listed = git(source, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        dest.mkdir(parents=True)
        for name in sorted(set(filter(None, listed.split("\0")))):
            src = source / name
            if not src.is_file():  # deleted in the working tree
                continue
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
        if edit is not None:
            edit(dest)
        git(dest, "init", "-q", "-b", "main")
        git(dest, "config", "uploadpack.allowAnySHA1InWant", "true")
        origin = cls(dest, repository)
        origin.commit("the working tree under test")
        return origin

    def commit(
        self, message: str, files: Mapping[str, str] | None = None, *, branch: str = "main"
    ) -> str:
        """A commit on `branch` (created from main when new); returns its sha."""
        if git(self.path, "branch", "--show-current") != branch:
            if git(self.path, "branch", "--list", branch):
                git(self.path, "checkout", "-q", branch)
            else:
                git(self.path, "checkout", "-q", "-b", branch, "main")
        for name, text in (files or {}).items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "--allow-empty", "-m", message)
        return git(self.path, "rev-parse", "HEAD")

    def tag(self, name: str, ref: str = "main") -> str:
        git(self.path, "tag", "-a", name, "-m", name, ref)
        return git(self.path, "rev-parse", f"{name}^{{commit}}")

    def pull_request(self, number: int, head: str, base: str = "main") -> str:
        """GitHub's test merge commit refs/pull/N/merge of `head` into `base`."""
        scratch = self.path.parent / f".merge-{number}-{uuid.uuid4().hex[:6]}"
        git(self.path, "worktree", "add", "-q", "--detach", str(scratch), base)
        try:
            git(scratch, "merge", "-q", "--no-ff", "-m", f"Merge {head} into {base}", head)
            sha = git(scratch, "rev-parse", "HEAD")
        finally:
            git(self.path, "worktree", "remove", "--force", str(scratch))
        git(self.path, "update-ref", f"refs/pull/{number}/merge", sha)
        git(self.path, "update-ref", f"refs/pull/{number}/head", head)
        return sha

    def sha(self, ref: str) -> str:
        return git(self.path, "rev-parse", f"{ref}^{{commit}}")

    def read(self, name: str, ref: str = "main") -> str:
        """A file as `ref` holds it."""
        return git(self.path, "show", f"{ref}:{name}") + "\n"


# -- events --------------------------------------------------------------------------------------


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


# -- results -------------------------------------------------------------------------------------


@dataclass
class StepRun:
    index: int
    name: str
    id: str | None
    kind: str  # run | uses
    line: str  # the run line, or the action
    outcome: str = "skipped"  # success | failure | skipped
    conclusion: str = "skipped"
    exit_code: int | None = None
    log: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    env: dict[str, str] = field(default_factory=dict)  # what the step's own env: evaluated to
    github: dict[str, str] = field(default_factory=dict)  # the GITHUB_*/RUNNER_* it ran with
    with_: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    replaced: str | None = None  # the run line the rehearsal ran instead (narrowed)
    notes: list[str] = field(default_factory=list)


@dataclass
class Credentials:
    """What one configure-aws-credentials step asked for."""

    role: str
    session_name: str
    region: str
    subject: str  # the OIDC `sub` this job presents


@dataclass
class JobRun:
    name: str
    result: str = "skipped"  # success | failure | skipped
    outputs: dict[str, str] = field(default_factory=dict)
    steps: list[StepRun] = field(default_factory=list)
    environment: str | None = None
    workspace: Path | None = None
    credentials: list[Credentials] = field(default_factory=list)
    artifacts: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    path: list[str] = field(default_factory=list)  # what steps put on GITHUB_PATH, in order
    workspace_env: dict[str, str] = field(default_factory=dict)  # from prepare_workspace
    seconds: float = 0.0
    if_value: bool | None = None

    def step(self, name_or_id: str) -> StepRun:
        """The step with this id, name, action (`actions/checkout`) or run line."""
        for step in self.steps:
            if name_or_id in (step.id, step.name, step.line, step.line.split("@")[0]):
                return step
        raise KeyError(f"{self.name}: no step {name_or_id!r}")

    def ran(self, command: str) -> StepRun:
        """The one step that ran (not skipped) whose run line starts with `command`."""
        found = [
            s
            for s in self.steps
            if s.kind == "run" and s.outcome != "skipped" and s.line.strip().startswith(command)
        ]
        if len(found) != 1:
            raise KeyError(f"{self.name}: {len(found)} steps running {command!r} ran")
        return found[0]

    def running(self, command: str) -> StepRun:
        """The step whose run line is `command`, else the one that starts with it."""
        runs = [s for s in self.steps if s.kind == "run"]
        found = [s for s in runs if s.line.strip() == command] or [
            s for s in runs if s.line.strip().startswith(command)
        ]
        if len(found) != 1:
            raise KeyError(f"{self.name}: {len(found)} steps run {command!r}")
        return found[0]

    def log(self) -> str:
        return "\n".join(
            f"--- {self.name} / {s.name}: {s.outcome} (exit {s.exit_code}, {s.seconds:.1f}s)\n"
            f"{s.log}"
            for s in self.steps
            if s.outcome != "skipped"
        )

    def summary(self) -> str:
        return "".join(s.summary for s in self.steps)


@dataclass
class WorkflowRun:
    event: Event
    jobs: dict[str, JobRun]
    workflow: dict[str, Any] = field(default_factory=dict)  # as read from the event's commit
    seconds: float = 0.0

    def needs_context(self, names: list[str]) -> dict[str, Any]:
        return {n: {"result": self.jobs[n].result, "outputs": self.jobs[n].outputs} for n in names}

    def report(self) -> str:
        """One line per job and the log of every job that did not succeed."""
        lines = [f"{self.event.name} {self.event.ref} ({self.seconds:.0f}s)"]
        for job in self.jobs.values():
            lines.append(f"  {job.name}: {job.result} ({job.seconds:.1f}s) {job.outputs}")
        for job in self.jobs.values():
            if job.result == "failure":
                lines.append(job.log()[-6000:])
        return "\n".join(lines)


# -- scheduling ----------------------------------------------------------------------------------


def needs_of(job: Mapping[str, Any]) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else list(needs)


def job_order(workflow: Mapping[str, Any]) -> list[str]:
    """Topological order of `needs`; among ready jobs, the file's order."""
    jobs = workflow["jobs"]
    done: list[str] = []
    pending = list(jobs)
    while pending:
        ready = [j for j in pending if all(n in done for n in needs_of(jobs[j]))]
        if not ready:
            raise ValueError(f"jobs {pending} need each other or an unknown job")
        done.append(ready[0])
        pending.remove(ready[0])
    return done


def ancestors(workflow: Mapping[str, Any], name: str) -> set[str]:
    jobs = workflow["jobs"]
    found: set[str] = set()
    todo = needs_of(jobs[name])
    while todo:
        n = todo.pop()
        if n not in found:
            found.add(n)
            todo.extend(needs_of(jobs[n]))
    return found


def job_status(workflow: Mapping[str, Any], name: str, results: Mapping[str, str]) -> Status:
    """success(): every job `name` needs succeeded and no ancestor failed or was cancelled;
    failure(): some ancestor failed (GitHub: 'returns true if any ancestor job fails')."""
    direct = needs_of(workflow["jobs"][name])
    before = ancestors(workflow, name)
    failed = any(results.get(a) == "failure" for a in before)
    cancelled = any(results.get(a) == "cancelled" for a in before)
    ok = all(results.get(n) == "success" for n in direct) and not failed and not cancelled
    return Status(success=ok, failure=failed, cancelled=False)


def environment_name(job: Mapping[str, Any], contexts: Mapping[str, Any]) -> str | None:
    env = job.get("environment")
    if env is None:
        return None
    if isinstance(env, Mapping):
        env = env.get("name")
    return interpolate(env, contexts) if env else None


def github_context(event: Event, repository: str, workspace: str, run_id: int) -> dict[str, Any]:
    owner = repository.split("/")[0]
    return {
        "event_name": event.name,
        "event": event.payload,
        "ref": event.ref,
        "ref_name": event.ref_name,
        "ref_type": event.ref_type,
        "sha": event.sha,
        "run_number": event.run_number,
        "run_id": run_id,
        "run_attempt": 1,
        "repository": repository,
        "repository_owner": owner,
        "actor": "octocat",
        "triggering_actor": "octocat",
        "workflow": "",
        "server_url": "https://github.com",
        "api_url": "https://api.github.com",
        "graphql_url": "https://api.github.com/graphql",
        "head_ref": event.head_ref,
        "base_ref": event.base_ref,
        "workspace": workspace,
        "job": "",
        "action": "",
        "token": "",
    }


def inputs_context(workflow: Mapping[str, Any], event: Event) -> dict[str, Any]:
    """`inputs`: a workflow_dispatch's inputs over the declared defaults; empty otherwise."""
    if event.name != "workflow_dispatch":
        return {}
    declared = ((workflow.get("on") or {}).get("workflow_dispatch") or {}).get("inputs") or {}
    values = {k: v.get("default", "") for k, v in declared.items() if isinstance(v, Mapping)}
    values.update(event.inputs)
    return values


def plan_jobs(
    workflow: Mapping[str, Any],
    event: Event,
    results: Mapping[str, str],
    *,
    vars: Mapping[str, Mapping[str, str]] | None = None,
    repository: str = "acme/gamepulse",
) -> dict[str, str]:
    """Which jobs run for `event` when the jobs that run end as `results` says (default
    success): job -> result, 'skipped' for those whose `if:` is false. The scheduling the
    Rehearsal uses, without running anything."""
    done: dict[str, str] = {}
    outputs: dict[str, dict[str, str]] = {}
    for name in job_order(workflow):
        job = workflow["jobs"][name]
        contexts = job_if_contexts(
            workflow, event, name, done, outputs, vars or {}, repository, "", 0
        )
        ran = condition(job.get("if"), contexts, job_status(workflow, name, done))
        done[name] = results.get(name, "success") if ran else "skipped"
        outputs[name] = {}
    return done


def job_if_contexts(
    workflow: Mapping[str, Any],
    event: Event,
    name: str,
    results: Mapping[str, str],
    outputs: Mapping[str, Mapping[str, str]],
    vars: Mapping[str, Mapping[str, str]],
    repository: str,
    workspace: str,
    run_id: int,
) -> dict[str, Any]:
    """The contexts a job-level `if:` sees: github, needs, vars, inputs (no env, no secrets)."""
    needs = {
        n: {"result": results[n], "outputs": dict(outputs.get(n, {}))}
        for n in needs_of(workflow["jobs"][name])
    }
    return {
        "github": github_context(event, repository, workspace, run_id),
        "needs": needs,
        "vars": dict(vars.get("", {})),
        "inputs": inputs_context(workflow, event),
    }


# -- the runner ----------------------------------------------------------------------------------

ActionHandler = Callable[["_JobState", StepRun, dict[str, str]], None]


class StepFailed(Exception):
    """An emulated action failed (as the real action would)."""


@dataclass
class _JobState:
    rehearsal: Rehearsal
    event: Event
    name: str
    job: Mapping[str, Any]
    run: JobRun
    workspace: Path
    temp: Path
    env: dict[str, str]  # workflow + job env (and GITHUB_ENV additions)
    path_prefix: list[str] = field(default_factory=list)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    contexts: dict[str, Any] = field(default_factory=dict)
    deadline: float = 0.0

    def permissions(self) -> dict[str, str]:
        perms = self.job.get("permissions")
        if perms is None:
            perms = self.rehearsal.workflow.get("permissions")
        if isinstance(perms, str):
            level = "write" if perms == "write-all" else "read"
            return {k: level for k in ("contents", "id-token", "actions")}
        return {str(k): str(v) for k, v in (perms or {}).items()}


def runner_base_env() -> dict[str, str]:
    """This machine's environment as a fresh runner's: nothing of the test process (its
    venv, pytest, coverage, AWS or GitHub settings) leaks into the jobs."""
    drop_prefixes = (
        "GITHUB_",
        "RUNNER_",
        "AWS_",
        "ECR_",
        "SHIPYARD_",
        "PYTEST_",
        "COV_",
        "COVERAGE",
        "MOTO_",
        "NOX_",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop_prefixes)}
    venvs = {str(Path(p).resolve()) for p in os.environ.get("PATH", "").split(os.pathsep) if p}
    keep = []
    for entry in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep):
        resolved = str(Path(entry).resolve()) if entry else ""
        if entry and resolved in venvs and (Path(entry) / "activate").is_file():
            continue  # a virtualenv's bin: the runner has none before bootstrap
        keep.append(entry)
    env["PATH"] = os.pathsep.join(keep)
    env.setdefault("HOME", "/root")
    env["CI"] = "true"
    return env


class Rehearsal:
    """Runs one workflow of an Origin for events, job by job."""

    def __init__(
        self,
        origin: Origin,
        *,
        workflow: str = "gamepulse-ci-cd.yml",
        work: Path,
        vars: Mapping[str, Mapping[str, str]] | None = None,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
        aws_env: Mapping[str, str] | None = None,
        account_id: str = "123456789012",
        run_overrides: Mapping[str, str] | None = None,
        prepare_workspace: Callable[[str, Path], Mapping[str, str] | None] | None = None,
        after_job: Callable[[JobRun], None] | None = None,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        """vars/secrets: environment name -> values; '' holds the repository's own.
        run_overrides: a `run:` line -> the line run instead (recorded on the step).
        prepare_workspace(job, path): called right after a job's checkout; what it returns is
        added to the environment of the job's later steps (recorded in JobRun.workspace_env).
        after_job(job_run): called when a job ended (e.g. to mirror what it pushed)."""
        self.origin = origin
        self.workflow_file = WORKFLOW_DIR / workflow
        self.work = work
        self.vars = {k: dict(v) for k, v in (vars or {}).items()}
        self.secrets = {k: dict(v) for k, v in (secrets or {}).items()}
        self.aws_env = dict(aws_env or {})
        self.account_id = account_id
        self.run_overrides = dict(run_overrides or {})
        self.prepare_workspace = prepare_workspace
        self.after_job = after_job
        self.base_env = dict(base_env) if base_env is not None else runner_base_env()
        self.workflow: dict[str, Any] = {}
        self._runs = 0
        self.actions: dict[str, ActionHandler] = {
            "actions/checkout": _checkout,
            "actions/setup-python": _setup_python,
            "aws-actions/configure-aws-credentials": _configure_aws_credentials,
            "actions/upload-artifact": _upload_artifact,
            "github/codeql-action/init": _skipped_action,
            "github/codeql-action/analyze": _skipped_action,
            "github/codeql-action/autobuild": _skipped_action,
        }

    # -- a run ----------------------------------------------------------------------------
    def run(self, event: Event) -> WorkflowRun:
        """Every job of the workflow for `event`, read from the commit the event names."""
        self._runs += 1
        run_id = 7_000_000 + self._runs
        text = git(self.origin.path, "show", f"{event.sha}:{self.workflow_file.as_posix()}")
        scratch = self.work / f"run-{self._runs}"
        scratch.mkdir(parents=True)
        flow_path = scratch / "workflow.yml"
        flow_path.write_text(text)
        self.workflow = load_workflow(flow_path)
        started = time.monotonic()
        results: dict[str, str] = {}
        outputs: dict[str, dict[str, str]] = {}
        jobs: dict[str, JobRun] = {}
        for name in job_order(self.workflow):
            job_run = self._job(event, name, results, outputs, scratch, run_id)
            jobs[name] = job_run
            results[name] = job_run.result
            outputs[name] = job_run.outputs
            if self.after_job is not None:
                self.after_job(job_run)
        return WorkflowRun(event, jobs, self.workflow, time.monotonic() - started)

    def _job(
        self,
        event: Event,
        name: str,
        results: dict[str, str],
        outputs: dict[str, dict[str, str]],
        scratch: Path,
        run_id: int,
    ) -> JobRun:
        job = self.workflow["jobs"][name]
        unsupported = sorted(set(job) & {"strategy", "services", "container", "uses"})
        if unsupported:  # rehearsing them wrongly would be worse than saying so
            raise NotImplementedError(f"job {name}: the rehearsal does not run {unsupported}")
        run = JobRun(name)
        workspace = scratch / name / "workspace"
        contexts = job_if_contexts(
            self.workflow,
            event,
            name,
            results,
            outputs,
            self.vars,
            self.origin.repository,
            str(workspace),
            run_id,
        )
        run.if_value = condition(job.get("if"), contexts, job_status(self.workflow, name, results))
        if not run.if_value:
            return run
        started = time.monotonic()
        workspace.mkdir(parents=True)
        temp = scratch / name / "runner-temp"
        temp.mkdir()
        environment = environment_name(job, contexts)
        run.environment = environment
        run.workspace = workspace
        contexts["vars"] = {**self.vars.get("", {}), **self.vars.get(environment or "", {})}
        contexts["secrets"] = {
            "GITHUB_TOKEN": "ghs_rehearsal",
            **self.secrets.get("", {}),
            **self.secrets.get(environment or "", {}),
        }
        contexts["github"]["job"] = name
        contexts["github"]["workflow"] = str(self.workflow.get("name", ""))
        contexts["runner"] = {"os": "Linux", "arch": "X64", "temp": str(temp), "name": "rehearsal"}
        contexts["job"] = {"status": "success"}
        contexts["strategy"] = {}
        contexts["matrix"] = {}
        env: dict[str, str] = {}
        contexts["env"] = env
        for key, value in (self.workflow.get("env") or {}).items():
            env[str(key)] = interpolate(value, contexts)
        for key, value in (job.get("env") or {}).items():
            env[str(key)] = interpolate(value, contexts)
        state = _JobState(self, event, name, job, run, workspace, temp, env, contexts=contexts)
        state.deadline = time.monotonic() + float(job.get("timeout-minutes", 360)) * 60
        failed = False
        for index, step in enumerate(job.get("steps") or []):
            step_run = self._step(state, index, step, failed)
            run.steps.append(step_run)
            if step_run.outcome == "failure" and step_run.conclusion == "failure":
                failed = True
            contexts["job"] = {"status": "failure" if failed else "success"}
        run.result = "failure" if failed else "success"
        run.path = list(reversed(state.path_prefix))
        run.outputs = self._outputs(state)
        run.seconds = time.monotonic() - started
        return run

    def _outputs(self, state: _JobState) -> dict[str, str]:
        secrets = [v for v in state.contexts["secrets"].values() if v]
        contexts = {**state.contexts, "steps": state.steps}
        found: dict[str, str] = {}
        for key, value in (state.job.get("outputs") or {}).items():
            text = interpolate(value, contexts)
            if any(s in text for s in secrets):
                state.run.warnings.append(f"Skip output '{key}' since it may contain secret.")
                continue
            found[str(key)] = text
        return found

    def _step(self, state: _JobState, index: int, step: Mapping[str, Any], failed: bool) -> StepRun:
        kind = "run" if "run" in step else "uses"
        line = str(step.get("run") if kind == "run" else step.get("uses"))
        name = str(step.get("name") or (f"Run {line}" if kind == "run" else line.split("@")[0]))
        result = StepRun(index, name, step.get("id"), kind, line)
        status = Status(success=not failed, failure=failed)
        contexts = dict(state.contexts)
        contexts["steps"] = state.steps
        if not condition(step.get("if"), contexts, status):
            self._record(state, result)
            return result
        step_env = {str(k): interpolate(v, contexts) for k, v in (step.get("env") or {}).items()}
        result.env = step_env
        contexts["env"] = {**state.env, **step_env}  # what `with:` and `run:` see
        started = time.monotonic()
        try:
            if kind == "uses":
                with_ = {
                    str(k): interpolate(v, contexts) for k, v in (step.get("with") or {}).items()
                }
                result.with_ = with_
                action = line.split("@")[0]
                handler = self.actions.get(action)
                if handler is None:
                    raise StepFailed(f"the rehearsal does not know the action {action}")
                handler(state, result, with_)
                result.outcome = "success"
            else:
                self._shell(state, result, step, step_env, contexts)
        except StepFailed as exc:
            result.outcome = "failure"
            result.log += f"\n::error::{exc}"
        result.seconds = time.monotonic() - started
        continue_on_error = step.get("continue-on-error", False)
        if isinstance(continue_on_error, str):
            continue_on_error = condition(continue_on_error, contexts, Status())
        result.conclusion = (
            "success" if result.outcome == "failure" and continue_on_error else result.outcome
        )
        self._record(state, result)
        return result

    def _record(self, state: _JobState, result: StepRun) -> None:
        if result.id:
            state.steps[result.id] = {
                "outputs": dict(result.outputs),
                "outcome": result.outcome,
                "conclusion": result.conclusion,
            }

    def _shell(
        self,
        state: _JobState,
        result: StepRun,
        step: Mapping[str, Any],
        step_env: dict[str, str],
        contexts: Mapping[str, Any],
    ) -> None:
        script = result.line
        replaced = self.run_overrides.get(script.strip())
        if replaced is not None:
            result.replaced = replaced
            script = replaced
        script = interpolate(script, contexts)  # GitHub expands ${{ }} before the shell runs
        files = {
            "GITHUB_OUTPUT": state.temp / f"output-{result.index}",
            "GITHUB_ENV": state.temp / f"env-{result.index}",
            "GITHUB_PATH": state.temp / f"path-{result.index}",
            "GITHUB_STEP_SUMMARY": state.temp / f"summary-{result.index}",
        }
        for path in files.values():
            path.write_text("")
        script_file = state.temp / f"step-{result.index}.sh"
        script_file.write_text(script + "\n")
        env = self._step_env(state, step_env, files)
        result.github = {k: v for k, v in env.items() if k.startswith(("GITHUB_", "RUNNER_"))}
        shell = step.get("shell") or (state.job.get("defaults") or {}).get("run", {}).get("shell")
        argv = _shell_argv(shell, script_file)
        workdir = step.get("working-directory") or (
            (state.job.get("defaults") or {}).get("run", {}).get("working-directory")
        )
        cwd = state.workspace / workdir if workdir else state.workspace
        remaining = state.deadline - time.monotonic()
        if "timeout-minutes" in step:
            remaining = min(remaining, float(step["timeout-minutes"]) * 60)
        try:
            proc = subprocess.run(
                argv,
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=max(remaining, 1),
                check=False,
            )
            result.exit_code = proc.returncode
            result.log = proc.stdout
        except subprocess.TimeoutExpired as exc:
            result.exit_code = None
            out = exc.stdout
            result.log = (out.decode() if isinstance(out, bytes) else out or "") + "\n(timed out)"
        result.outcome = "success" if result.exit_code == 0 else "failure"
        result.outputs = read_key_values(files["GITHUB_OUTPUT"].read_text())
        state.env.update(read_key_values(files["GITHUB_ENV"].read_text()))
        for entry in files["GITHUB_PATH"].read_text().splitlines():
            if entry.strip():
                state.path_prefix.insert(0, entry.strip())
        result.summary = files["GITHUB_STEP_SUMMARY"].read_text()

    def _step_env(
        self, state: _JobState, step_env: Mapping[str, str], files: Mapping[str, Path]
    ) -> dict[str, str]:
        event = state.event
        ctx = state.contexts["github"]
        event_file = state.temp / "event.json"
        if not event_file.exists():
            event_file.write_text(json.dumps(event.payload))
        env = dict(self.base_env)
        env.update(
            {
                "GITHUB_ACTIONS": "true",
                "GITHUB_ACTION": f"__run_{len(state.run.steps)}",
                "GITHUB_ACTOR": "octocat",
                "GITHUB_API_URL": "https://api.github.com",
                "GITHUB_BASE_REF": event.base_ref,
                "GITHUB_EVENT_NAME": event.name,
                "GITHUB_EVENT_PATH": str(event_file),
                "GITHUB_HEAD_REF": event.head_ref,
                "GITHUB_JOB": state.name,
                "GITHUB_REF": event.ref,
                "GITHUB_REF_NAME": event.ref_name,
                "GITHUB_REF_TYPE": event.ref_type,
                "GITHUB_REPOSITORY": self.origin.repository,
                "GITHUB_REPOSITORY_OWNER": self.origin.repository.split("/")[0],
                "GITHUB_RUN_ATTEMPT": "1",
                "GITHUB_RUN_ID": str(ctx["run_id"]),
                "GITHUB_RUN_NUMBER": str(event.run_number),
                "GITHUB_SERVER_URL": "https://github.com",
                "GITHUB_SHA": event.sha,
                "GITHUB_WORKFLOW": str(self.workflow.get("name", "")),
                "GITHUB_WORKSPACE": str(state.workspace),
                "RUNNER_OS": "Linux",
                "RUNNER_ARCH": "X64",
                "RUNNER_NAME": "rehearsal",
                "RUNNER_TEMP": str(state.temp),
                "RUNNER_TOOL_CACHE": str(state.temp / "toolcache"),
            }
        )
        env.update(state.env)
        env.update(step_env)
        env.update({k: str(v) for k, v in files.items()})
        if state.path_prefix:
            env["PATH"] = os.pathsep.join([*state.path_prefix, env.get("PATH", "")])
        return env


def _shell_argv(shell: str | None, script: Path) -> list[str]:
    if shell in (None, ""):
        return ["bash", "-e", str(script)]
    if shell == "bash":
        return ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)]
    if shell == "sh":
        return ["sh", "-e", str(script)]
    if shell == "python":
        return ["python", str(script)]
    if "{0}" in shell:
        return [part.replace("{0}", str(script)) for part in shell.split()]
    raise StepFailed(f"shell {shell!r} is not supported by the rehearsal")


def read_key_values(text: str) -> dict[str, str]:
    """GITHUB_OUTPUT / GITHUB_ENV: `key=value` lines and `key<<DELIM` … `DELIM` blocks."""
    found: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        heredoc = re.match(r"^([^=<]+)<<(.+)$", line)
        if heredoc and "=" not in line.split("<<", 1)[0]:
            key, delimiter = heredoc.group(1), heredoc.group(2)
            body: list[str] = []
            while i < len(lines) and lines[i] != delimiter:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ValueError(f"{key}: no closing {delimiter!r}")
            i += 1
            found[key] = "\n".join(body)
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"not key=value: {line!r}")
        found[key] = value
    return found


# -- the emulated actions ------------------------------------------------------------------------


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
