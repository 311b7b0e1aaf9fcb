"""The rehearsal runner itself, on a small workflow in a throwaway repository: outputs across
steps and jobs (GITHUB_OUTPUT, also multi-line), GITHUB_PATH and GITHUB_ENV, step and job
conditions after a failure, continue-on-error, skipped jobs seen by their dependents, a
secret in an output, and the emulated actions' failures."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.gha_events import Event
from tests.support.gha_origin import Origin
from tests.support.gha_results import WorkflowRun
from tests.support.gha_runner import Rehearsal

WORKFLOW = """
name: small
on:
  push:
    branches: [main]
env:
  WHO: world
jobs:
  first:
    runs-on: ubuntu-latest
    outputs:
      greeting: ${{ steps.say.outputs.greeting }}
      notes: ${{ steps.say.outputs.notes }}
      leaked: ${{ steps.say.outputs.token }}
    steps:
      - uses: actions/checkout@0000000000000000000000000000000000000000
      - name: a tool on GITHUB_PATH and a variable on GITHUB_ENV
        run: |
          tools="$RUNNER_TEMP/tools" && mkdir -p "$tools"
          printf '#!/bin/sh\\necho tool:$1\\n' > "$tools/hello" && chmod +x "$tools/hello"
          echo "$tools" >> "$GITHUB_PATH"
          echo "LATER=from-env-file" >> "$GITHUB_ENV"
      - id: say
        env:
          REF: ${{ github.ref_name }}
        run: |
          echo "greeting=$(hello "$WHO") on $REF $LATER" >> "$GITHUB_OUTPUT"
          printf 'notes<<EOF\\none\\ntwo\\nEOF\\n' >> "$GITHUB_OUTPUT"
          echo "token=${{ secrets.TOKEN }}" >> "$GITHUB_OUTPUT"
          cat marker.txt
  second:
    needs: first
    runs-on: ubuntu-latest
    steps:
      - run: exit 3
        continue-on-error: true
      - id: after
        run: echo "ran=yes" >> "$GITHUB_OUTPUT"
      - run: exit 1
      - name: only on success
        run: echo never
      - name: on failure
        if: failure()
        env:
          GOT: ${{ needs.first.outputs.greeting }}
        run: test "$GOT" = "tool:world on main from-env-file"
  third:
    needs: second
    runs-on: ubuntu-latest
    steps:
      - run: echo never
  last:
    needs: [first, second, third]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - env:
          NEEDS: ${{ toJSON(needs) }}
        run: echo "$NEEDS" > "$RUNNER_TEMP/needs.json"
"""


@pytest.fixture
def run(tmp_path: Path) -> WorkflowRun:
    source = tmp_path / "source"
    (source / ".github" / "workflows").mkdir(parents=True)
    (source / ".github" / "workflows" / "small.yml").write_text(WORKFLOW)
    (source / "marker.txt").write_text("checked out\n")
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=source, check=True)
    origin = Origin.from_working_tree(source, tmp_path / "origin")
    rehearsal = Rehearsal(
        origin, workflow="small.yml", work=tmp_path / "runs", secrets={"": {"TOKEN": "s3cr3t"}}
    )
    return rehearsal.run(Event.push("main", origin.sha("main"), run_number=9))


def test_outputs_path_and_env_files(run: WorkflowRun) -> None:
    first = run.jobs["first"]
    assert first.result == "success", first.log()
    say = first.step("say")
    assert say.outputs["greeting"] == "tool:world on main from-env-file"
    assert say.outputs["notes"] == "one\ntwo"
    assert "checked out" in say.log  # the step ran in the checkout
    assert first.outputs == {"greeting": say.outputs["greeting"], "notes": "one\ntwo"}
    # an output holding a secret's value is dropped, as GitHub does
    assert "leaked" not in first.outputs
    assert any("leaked" in w for w in first.warnings)
    assert first.path[-1].endswith("/tools")
    assert say.github["GITHUB_RUN_NUMBER"] == "9"
    assert say.github["GITHUB_REF"] == "refs/heads/main"


def test_failures_conditions_and_skipped_dependents(run: WorkflowRun) -> None:
    second = run.jobs["second"]
    assert second.result == "failure"
    outcomes = [(s.outcome, s.conclusion) for s in second.steps]
    assert outcomes == [
        ("failure", "success"),  # continue-on-error
        ("success", "success"),
        ("failure", "failure"),
        ("skipped", "skipped"),  # success() is implied
        ("success", "success"),  # if: failure(), and it saw first's output
    ]
    assert run.jobs["third"].result == "skipped"
    assert run.jobs["third"].if_value is False
    last = run.jobs["last"]
    assert last.result == "success"
    assert last.workspace is not None
    needs = json.loads((last.workspace.parent / "runner-temp" / "needs.json").read_text())
    assert needs["second"] == {"result": "failure", "outputs": {}}
    assert needs["third"] == {"result": "skipped", "outputs": {}}
    assert needs["first"]["outputs"]["notes"] == "one\ntwo"


def test_configure_aws_credentials_needs_a_role_and_an_id_token(tmp_path: Path) -> None:
    workflow = """
on: push
permissions: {}
jobs:
  without-token:
    runs-on: ubuntu-latest
    environment: staging
    steps:
      - uses: aws-actions/configure-aws-credentials@0000000000000000000000000000000000000000
        with:
          role-to-assume: ${{ vars.ROLE }}
          aws-region: eu-west-1
  without-role:
    runs-on: ubuntu-latest
    permissions:
      id-token: write
    steps:
      - uses: aws-actions/configure-aws-credentials@0000000000000000000000000000000000000000
        with:
          role-to-assume: ${{ vars.ROLE }}
          aws-region: eu-west-1
  ok:
    runs-on: ubuntu-latest
    environment: staging
    permissions:
      id-token: write
    steps:
      - uses: aws-actions/configure-aws-credentials@0000000000000000000000000000000000000000
        with:
          role-to-assume: ${{ vars.ROLE }}
          aws-region: eu-west-1
      - run: test "$AWS_REGION" = eu-west-1 && test "$AWS_ENDPOINT_URL" = http://aws.invalid
"""
    source = tmp_path / "source"
    (source / ".github" / "workflows").mkdir(parents=True)
    (source / ".github" / "workflows" / "aws.yml").write_text(workflow)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=source, check=True)
    origin = Origin.from_working_tree(source, tmp_path / "origin", repository="o/r")
    rehearsal = Rehearsal(
        origin,
        workflow="aws.yml",
        work=tmp_path / "runs",
        vars={"staging": {"ROLE": "arn:aws:iam::1:role/staging"}},
        aws_env={"AWS_ENDPOINT_URL": "http://aws.invalid"},
    )
    run = rehearsal.run(Event.push("main", origin.sha("main"), run_number=1))
    assert run.jobs["without-token"].result == "failure"
    assert "id-token: write" in run.jobs["without-token"].log()
    assert run.jobs["without-role"].result == "failure"  # no environment: no vars.ROLE
    assert "Credentials could not be loaded" in run.jobs["without-role"].log()
    ok = run.jobs["ok"]
    assert ok.result == "success", ok.log()
    (creds,) = ok.credentials
    assert creds.role == "arn:aws:iam::1:role/staging"
    assert creds.subject == "repo:o/r:environment:staging"
