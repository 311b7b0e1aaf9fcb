"""The GitHub expression evaluator and the job scheduling of tests/support/gha*.py, on the
exact expressions and conditions of .github/workflows/gamepulse-ci-cd.yml (read from the
file, so a changed condition is tested as it is now)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import REPO
from tests.support.gha import (
    Status,
    condition,
    evaluate,
    expressions_in,
    interpolate,
    interpolate_value,
    load_workflow,
    uses_status_function,
)
from tests.support.gha_events import Event
from tests.support.gha_parse import ExpressionError, parse, tokenize
from tests.support.gha_schedule import job_order, plan_jobs
from tests.support.gha_shell import read_key_values

WORKFLOW = REPO / ".github" / "workflows" / "gamepulse-ci-cd.yml"
SHA = "0123456789abcdef0123456789abcdef01234567"
OK = Status()
FAILED = Status(success=False, failure=True)


@pytest.fixture(scope="module")
def flow() -> dict[str, Any]:
    return load_workflow(WORKFLOW)


def ctx(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "github": {
            "event_name": "push",
            "ref": "refs/heads/main",
            "ref_name": "main",
            "ref_type": "branch",
            "workflow": "gamepulse-ci-cd",
            "run_number": 7,
            "sha": SHA,
            "event": {"ref": "refs/heads/main"},
        },
        "inputs": {},
        "needs": {},
        "steps": {},
        "env": {"AWS_REGION": "ap-northeast-2", "PYTHON_VERSION": "3.11"},
        "vars": {"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/staging"},
        "secrets": {},
    }
    base.update(overrides)
    return base


# -- the language --------------------------------------------------------------------------------


def test_tokens_and_literals() -> None:
    kinds = [(t.kind, t.value) for t in tokenize("a.b-c == 'it''s' && !x[0] || 0x10 >= -1.5e1")]
    assert kinds == [
        ("ident", "a"),
        ("op", "."),
        ("ident", "b-c"),
        ("op", "=="),
        ("str", "it's"),
        ("op", "&&"),
        ("op", "!"),
        ("ident", "x"),
        ("op", "["),
        ("num", 0.0),
        ("op", "]"),
        ("op", "||"),
        ("num", 16.0),
        ("op", ">="),
        ("num", -15.0),
        ("eof", None),
    ]
    assert evaluate("null", {}) is None
    assert evaluate("true", {}) is True
    assert evaluate("'a''b'", {}) == "a'b"


def test_precedence_and_parentheses() -> None:
    # && binds tighter than ||; ! tighter than ==; comparisons tighter than equality
    assert parse("a || b && c") == (
        "bin",
        "||",
        ("ctx", "a"),
        ("bin", "&&", ("ctx", "b"), ("ctx", "c")),
    )
    assert parse("!a == b") == ("bin", "==", ("not", ("ctx", "a")), ("ctx", "b"))
    values = {"a": True, "b": False, "c": False}
    assert evaluate("a || b && c", values) is True
    assert evaluate("(a || b) && c", values) is False
    assert evaluate("1 < 2 == true", {}) is True


def test_and_or_return_an_operand() -> None:
    assert evaluate("'' || 'fallback'", {}) == "fallback"
    assert evaluate("'x' && 'y'", {}) == "y"
    assert evaluate("0 && 'never'", {}) == 0
    assert evaluate("null || null", {}) is None


def test_loose_equality_and_coercion() -> None:
    assert evaluate("null == ''", {}) is True  # both are 0 as numbers
    assert evaluate("null == 0", {}) is True
    assert evaluate("'1' == 1", {}) is True
    assert evaluate("true == 1", {}) is True
    assert evaluate("'abc' == 'ABC'", {}) is True  # strings ignore case
    assert evaluate("'abc' == 0", {}) is False  # NaN equals nothing
    assert evaluate("'2' < 10", {}) is True
    assert evaluate("'b' > 'A'", {}) is True
    values = {"o": {"k": 1}}
    assert evaluate("o == o", values) is True
    assert evaluate("o == 'Object'", values) is False


def test_property_access_is_case_insensitive_and_null_when_missing() -> None:
    values = {"github": {"Event_Name": "push", "event": {"release": {"tag_name": "v1.2.0"}}}}
    assert evaluate("github.event_name", values) == "push"
    assert evaluate("GitHub.EVENT_NAME", values) == "push"
    assert evaluate("github.event.release.tag_name", values) == "v1.2.0"
    assert evaluate("github['event']['release']['tag_name']", values) == "v1.2.0"
    assert evaluate("github.nothing.deeper", values) is None
    with pytest.raises(ExpressionError, match="unknown context"):
        evaluate("nosuchcontext.x", values)


def test_object_filter() -> None:
    needs = {"a": {"result": "success"}, "b": {"result": "failure"}, "c": {"result": "skipped"}}
    assert evaluate("needs.*.result", {"needs": needs}) == ["success", "failure", "skipped"]
    assert evaluate("contains(needs.*.result, 'FAILURE')", {"needs": needs}) is True
    assert evaluate("contains(needs.*.result, 'cancelled')", {"needs": needs}) is False
    assert evaluate("needs[*].result", {"needs": {}}) == []


def test_functions() -> None:
    assert evaluate("contains('Hello world', 'WORLD')", {}) is True
    assert evaluate("startsWith('refs/tags/v1', 'refs/tags/')", {}) is True
    assert evaluate("endsWith('image.tar', '.TAR')", {}) is True
    assert evaluate("format('{0}-{1} {{x}}', 'a', 2)", {}) == "a-2 {x}"
    assert evaluate("join(fromJSON('[1, 2, 3]'), '+')", {}) == "1+2+3"
    assert json.loads(evaluate("toJSON(x)", {"x": {"a": [1, None]}})) == {"a": [1, None]}
    assert evaluate("toJSON(x)", {"x": {"a": 1}}) == '{\n  "a": 1\n}'  # GitHub's two spaces
    with pytest.raises(ExpressionError, match="unknown function"):
        evaluate("hashFile('x')", {})


def test_status_functions_and_the_implied_success() -> None:
    assert condition("always()", {}, FAILED) is True
    assert condition("success()", {}, FAILED) is False
    assert condition("failure()", {}, FAILED) is True
    assert condition("cancelled()", {}, FAILED) is False
    assert condition("${{ always() }}", {}, FAILED) is True
    # no status function: success() && (…)
    assert condition("true", {}, FAILED) is False
    assert condition(None, {}, FAILED) is False
    assert condition(None, {}, OK) is True
    assert uses_status_function("!cancelled() && x") is True
    assert uses_status_function("x == 'always()'") is False  # a string, not a call


def test_interpolation() -> None:
    values = ctx(steps={"ci": {"outputs": {"version": "1.2.0"}}})
    assert interpolate("v${{ steps.ci.outputs.version }}!", values) == "v1.2.0!"
    assert interpolate("${{ 'a }} b' }}", {}) == "a }} b"  # }} inside a string literal
    assert interpolate("${{ inputs.version }}", values) == ""  # null is ''
    assert interpolate(3.11, {}) == "3.11"
    assert interpolate(True, {}) == "true"
    assert interpolate_value("${{ github.event_name == 'pull_request' }}", values) is False
    # text around ${{ }} in an if: is a non-empty string, always true
    assert condition("${{ false }} ", values, OK) is False
    assert condition("x ${{ false }}", values, OK) is True


def test_truthiness_and_nan() -> None:
    assert evaluate("'x' < 1", {}) is False  # NaN compares false
    assert evaluate("'x' >= 1", {}) is False
    assert evaluate("!0", {}) is True
    assert evaluate("!''", {}) is True
    assert evaluate("!'false'", {}) is False  # a non-empty string is truthy


def test_github_output_files() -> None:
    text = "version=1.2.0\ndigest=sha256:abc\nnotes<<ghadelim_1\nline one\nline=two\nghadelim_1\n"
    assert read_key_values(text) == {
        "version": "1.2.0",
        "digest": "sha256:abc",
        "notes": "line one\nline=two",
    }
    assert read_key_values("empty=\n") == {"empty": ""}
    with pytest.raises(ValueError, match="closing"):
        read_key_values("x<<EOF\nno end\n")


# -- the workflow's own expressions --------------------------------------------------------------


def test_every_expression_of_the_workflow_parses(flow: dict[str, Any]) -> None:
    found = expressions_in(flow)
    conditions = [job.get("if") for job in flow["jobs"].values()] + [
        step.get("if") for job in flow["jobs"].values() for step in job.get("steps", [])
    ]
    assert found, "the workflow has ${{ }} expressions"
    for text in [*found, *(c for c in conditions if c)]:
        parse(text.replace("${{", "").replace("}}", "").strip())


def test_the_workflow_env_with_and_outputs(flow: dict[str, Any]) -> None:
    values = ctx(
        steps={"ci": {"outputs": {"version": "1.5.0", "digest": "sha256:" + "a" * 64}}},
        needs={"build": {"result": "success", "outputs": {"version": "1.5.0"}}},
    )
    build = flow["jobs"]["build"]
    assert interpolate(build["outputs"]["version"], values) == "1.5.0"
    assert interpolate(build["outputs"]["digest"], values) == "sha256:" + "a" * 64
    aws = next(s for s in build["steps"] if "configure-aws-credentials" in s.get("uses", ""))
    assert interpolate(aws["with"]["role-to-assume"], values).endswith("role/staging")
    assert interpolate(aws["with"]["aws-region"], values) == "ap-northeast-2"
    release = _running(flow, "deploy-staging", "inv release")
    assert interpolate(release["env"]["VERSION"], values) == "1.5.0"
    assert interpolate(release["env"]["SLACK_WEBHOOK_URL"], values) == ""  # no secret: ''
    summary = _running(flow, "summary", "inv ci-summary")
    needs_json = json.loads(interpolate(summary["env"]["NEEDS_JSON"], values))
    assert needs_json == {"build": {"result": "success", "outputs": {"version": "1.5.0"}}}
    group = interpolate(flow["concurrency"]["group"], values)
    assert group == "gamepulse-ci-cd-refs/heads/main"
    cancel = flow["concurrency"]["cancel-in-progress"]
    assert interpolate_value(cancel, values) is False
    pr = ctx(github={**values["github"], "event_name": "pull_request"})
    assert interpolate_value(cancel, pr) is True


def test_the_version_steps_choose_on_the_dispatch_input(flow: dict[str, Any]) -> None:
    auto = _running(flow, "build", "inv version --env staging --bump auto")["if"]
    requested = _running(flow, "build", "inv version --env staging --set")["if"]
    # a push has no inputs: inputs.version is null, and null == '' (both are 0)
    assert condition(auto, ctx(), OK) is True
    assert condition(requested, ctx(), OK) is False
    dispatch = ctx(inputs={"version": "2.0.0", "environment": "staging"})
    assert condition(auto, dispatch, OK) is False
    assert condition(requested, dispatch, OK) is True
    # after a failed step neither runs (no status function: success() is implied)
    assert condition(auto, ctx(), FAILED) is False


def _running(flow: dict[str, Any], job: str, command: str) -> dict[str, Any]:
    """The one step of `job` whose run line starts with `command`."""
    (step,) = [s for s in flow["jobs"][job]["steps"] if str(s.get("run", "")).startswith(command)]
    return dict(step)


def _event(name: str) -> Event:
    if name == "push main":
        return Event.push("main", SHA, run_number=1)
    if name == "push develop":
        return Event.push("develop", SHA, run_number=1)
    if name == "pull request":
        return Event.pull_request(1, SHA, "feature/x", "main", run_number=1)
    if name == "release":
        return Event.release("v1.2.0", SHA, run_number=1)
    if name == "dispatch staging":
        return Event.dispatch("main", SHA, {"environment": "staging"}, run_number=1)
    if name == "dispatch production without a version":
        return Event.dispatch("main", SHA, {"environment": "production"}, run_number=1)
    return Event.dispatch(
        "main", SHA, {"environment": "production", "version": "1.2.0"}, run_number=1
    )


@pytest.mark.parametrize(
    ("event", "skipped"),
    [
        ("push main", set()),
        ("push develop", {"deploy-production"}),
        ("release", set()),
        (
            "pull request",
            {"build", "deploy-staging", "integration", "deploy-production", "cleanup"},
        ),
        ("dispatch staging", {"deploy-production"}),
        ("dispatch production", {"build", "deploy-staging", "integration", "cleanup"}),
        (
            "dispatch production without a version",  # a manual production run names its tag
            {"build", "deploy-staging", "integration", "deploy-production", "cleanup"},
        ),
    ],
)
def test_which_jobs_run_for_each_event(flow: dict[str, Any], event: str, skipped: set[str]) -> None:
    planned = plan_jobs(flow, _event(event), {})
    assert {job for job, result in planned.items() if result == "skipped"} == skipped
    assert planned["summary"] == "success"  # if: always()


def test_jobs_run_in_the_order_of_needs(flow: dict[str, Any]) -> None:
    order = job_order(flow)
    for name, job in flow["jobs"].items():
        needs = job.get("needs") or []
        for need in [needs] if isinstance(needs, str) else needs:
            assert order.index(need) < order.index(name)


def test_a_failed_staging_release_skips_integration_cleanup_and_production(
    flow: dict[str, Any],
) -> None:
    planned = plan_jobs(flow, _event("push main"), {"integration": "failure"})
    assert planned["deploy-production"] == "skipped"
    assert planned["summary"] == "success"


@pytest.mark.parametrize("failed", ["test", "codeql", "build", "deploy-staging"])
def test_production_is_never_deployed_after_an_earlier_job_failed(
    flow: dict[str, Any], failed: str
) -> None:
    """A push to main whose tests (or build, or staging release) fail must not promote
    whatever staging happens to run to production.

    The rehearsal found this defect in the workflow it was first run on: deploy-production
    needed [integration] only, under `always() && !cancelled() &&
    !contains(needs.*.result, 'failure') && …`. An earlier job's failure leaves integration
    *skipped*, not failed, so the condition held and `inv promote` deployed whatever staging
    still served from an earlier run (the release run promoted develop's prerelease)."""
    planned = plan_jobs(flow, _event("push main"), {failed: "failure"})
    assert planned["integration"] == "skipped"
    assert planned["deploy-production"] == "skipped", (
        f"{failed} failed, integration was skipped, and deploy-production still runs"
    )
