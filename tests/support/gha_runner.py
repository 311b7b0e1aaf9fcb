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

This module holds the Rehearsal itself; what it works with is next to it: gha_origin.py (the
repository), gha_events.py (Event), gha_results.py (WorkflowRun, JobRun, StepRun),
gha_schedule.py (job order, job status, the contexts of a job's `if:`), gha_job.py (a job's
state while it runs), gha_actions.py (the emulated actions), gha_shell.py (a `run:` step's
shell and the files it writes back) and gha.py (expressions and the workflow file).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.support.gha import Status, condition, interpolate, load_workflow
from tests.support.gha_actions import (
    _checkout,
    _configure_aws_credentials,
    _setup_python,
    _skipped_action,
    _upload_artifact,
)
from tests.support.gha_events import Event
from tests.support.gha_job import ActionHandler, StepFailed, _JobState
from tests.support.gha_origin import Origin, git
from tests.support.gha_results import JobRun, StepRun, WorkflowRun
from tests.support.gha_schedule import environment_name, job_if_contexts, job_order, job_status
from tests.support.gha_shell import _shell_argv, read_key_values

WORKFLOW_DIR = Path(".github") / "workflows"


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
        env = self._running_contexts(contexts, job, name, environment, temp)
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

    def _running_contexts(
        self,
        contexts: dict[str, Any],
        job: Mapping[str, Any],
        name: str,
        environment: str | None,
        temp: Path,
    ) -> dict[str, str]:
        """The contexts a job that runs adds to its `if:`'s (vars and secrets of its
        environment, runner, job, ...); returns its env (workflow < job), contexts['env']."""
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
        return env

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
