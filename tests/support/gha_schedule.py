"""The scheduling of a workflow's jobs as GitHub does it: their order by `needs`, what a
job's success() and failure() answer, the contexts a job-level `if:` sees (github, needs,
vars, inputs), and plan_jobs, which jobs run for an event without running any."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.support.gha import Status, condition, interpolate
from tests.support.gha_events import Event


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
