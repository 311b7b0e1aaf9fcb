"""Issue 13's behaviours as named mutations (`python tools/mutants.py --named`): each
behaviour as the single-line change that breaks it and the test that must notice (NAMED),
and named(), which applies each to a copy of src/ and runs its test alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mutants_config import ROOT
from tabulate import tabulate


@dataclass(frozen=True)
class Named:
    """One behaviour of issue 13 as the single-line mutation that breaks it, and the test that
    must notice (`--named` applies each to a copy of src/ and runs that test alone)."""

    item: str
    behaviour: str
    path: str
    before: str
    after: str
    test: str


ROLLOUT = "tests/integration/test_ecs_rollout.py"
BLUEGREEN = "tests/integration/test_ecs_rollout_bluegreen.py"
MOTO = "tests/integration/test_ecs_moto.py"
REDACTION = "tests/unit/test_redaction.py"
NAMED = (
    Named(
        "1",
        "ECS: a COMPLETED deployment that is not PRIMARY is reported as success",
        "src/shipyard/targets/ecs_watch.py",
        'if dep.get("status") != "PRIMARY":',
        "if False:",
        f"{ROLLOUT}::test_a_deployment_superseded_by_another_teams_is_never_rolled_back[COMPLETED]",
    ),
    Named(
        "2",
        "ECS: a deployment superseded by another one is reported as success",
        "src/shipyard/targets/ecs_watch.py",
        "            return self._superseded(m, primary)",
        '            return Watched("completed", m.service.name, "", m.new)',
        f"{ROLLOUT}::test_a_deployment_superseded_by_another_teams_is_never_rolled_back"
        "[IN_PROGRESS]",
    ),
    Named(
        "3",
        "ECS: the rollback's own rollout fails and that failure is ignored",
        "src/shipyard/targets/ecs.py",
        '            self.fail(watched, "returning to what served: ")',
        "            pass",
        f"{ROLLOUT}::test_a_rollback_whose_own_rollout_fails_is_reported_not_ignored",
    ),
    Named(
        "4",
        "CodeDeploy: undo after a failed verify does not stop the deployment",
        "src/shipyard/targets/ecs_bluegreen.py",
        '        if info.get("status") in ACTIVE_STATUSES:',
        "        if False:",
        f"{BLUEGREEN}::test_verify_failure_once_traffic_moved_stops_the_deployment_with_rollback",
    ),
    Named(
        "5",
        "CodeDeploy: the branch for a failure after traffic moved (Baking) is disabled",
        "src/shipyard/targets/ecs_bluegreen.py",
        'if moved and (status == "Baking" or shown.get("AfterAllowTraffic") == "Succeeded"):',
        "if False:",
        f"{BLUEGREEN}::test_verify_failure_once_traffic_moved_stops_the_deployment_with_rollback",
    ),
    Named(
        "6",
        "ECS: inv rollback with no argument picks a newer revision",
        "src/shipyard/targets/ecs_records.py",
        "revision_of(arn) < revision_of(current)",
        "revision_of(arn) != revision_of(current)",
        "tests/integration/test_ecs_rollback_choice.py"
        "::test_rollback_never_goes_forward_to_a_newer_good_revision_nobody_left",
    ),
    Named(
        "7",
        "ECS: inv rollback --to VERSION accepts a revision whose rollout failed",
        "src/shipyard/targets/ecs_records.py",
        "            if good and tags.get(VERSION) == to:",
        "            if tags.get(VERSION) == to:",
        f"{MOTO}::test_rollback_to_a_version_never_returns_to_a_failed_rollout_of_it",
    ),
    Named(
        "8",
        "local cleanup ignores the live and rollback-target images",
        "src/shipyard/operations/cleanup.py",
        '        kept[live.release_id] = (live.release_id, live.version, "live")',
        "        pass",
        "tests/integration/test_local_cleanup_selection.py"
        "::test_cleanup_keeps_the_live_and_the_rollback_target_images",
    ),
    Named(
        "8",
        "local cleanup ignores the rollback-target image",
        "src/shipyard/operations/cleanup.py",
        "    rollback = state.rollback_target()",
        "    rollback = None",
        "tests/integration/test_local_cleanup_selection.py"
        "::test_cleanup_keeps_the_live_and_the_rollback_target_images",
    ),
    Named(
        "9",
        "ECR cleanup ignores digests that running tasks actually run",
        "src/shipyard/operations/ecr_cleanup.py",
        "        images.extend(_running_task_images(ecs, cluster, name, env))",
        "        pass",
        "tests/integration/test_ecr_cleanup_deployed.py"
        "::test_a_digest_running_tasks_run_is_kept_though_no_tag_names_it_any_more",
    ),
    Named(
        "10",
        "ECR cleanup ignores the platform images of a kept multi-arch index",
        "src/shipyard/operations/ecr_cleanup.py",
        "    return decide(protected=protected)",
        "    return decide()",
        "tests/integration/test_ecr_cleanup_deployed.py"
        "::test_the_platform_images_of_a_kept_index_stay_and_those_of_a_deleted_one_go",
    ),
    Named(
        "11",
        "Console.progress output is not redacted",
        "src/shipyard/console.py",
        "    print(inert(redact(text)), file=stream, flush=True)",
        "    print(inert(text), file=stream, flush=True)",
        f"{REDACTION}::test_no_form_of_a_secret_reaches_any_output[progress-value]",
    ),
    Named(
        "12",
        "Console.warn output is not redacted",
        "src/shipyard/console.py",
        "        text = redact(text)",
        "        text = text",
        f"{REDACTION}::test_no_form_of_a_secret_reaches_any_output[warn-value]",
    ),
    Named(
        "13",
        "verify ignores `contains`: a release serving the wrong /version passes",
        "src/shipyard/operations/verify.py",
        "    if want is not None and want not in answer.body:",
        "    if False:",
        f"{ROLLOUT}::test_verify_failure_after_the_shift_rolls_back_and_watches_the_way_back"
        "[wrong version]",
    ),
    Named(
        "14",
        "promote: production's way back after a failed verify does not return it",
        "src/shipyard/targets/ecs.py",
        "        updated = self.ecs.update_service(self.cfg.cluster, name, m.previous)",
        "        updated = self.ecs.update_service(self.cfg.cluster, name, m.new)",
        "tests/integration/test_promote_real_targets.py",
    ),
    Named(
        "14",
        "local: a rollback failing after the proxy switch is not switched back",
        "src/shipyard/targets/local.py",
        "        self.proxy.switch(upstream)\n        if upstream is None:",
        "        if upstream is None:",
        "tests/integration/test_local_rollback_faults.py"
        "::test_a_rollback_failing_after_the_proxy_switch_is_switched_back",
    ),
    Named(
        "14",
        "local: reconcile leaves a run killed between switch and record routed to it",
        "src/shipyard/targets/local_truth.py",
        "                self.t.proxy.switch(self.bring_back(previous))",
        "                self.bring_back(previous)",
        "tests/integration/test_local_rollback_faults.py"
        "::test_a_rollback_killed_between_the_switch_and_its_record_is_routed_back",
    ),
    Named(
        "history",
        "a history write that is not atomic (written in place, torn by a kill)",
        "src/shipyard/fsutil.py",
        '    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")',
        "    fd, tmp = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), str(path)",
        "tests/unit/test_local_history.py"
        "::test_kill_9_between_writing_and_renaming_leaves_one_whole_history",
    ),
    Named(
        "history",
        "rollback choice forgets what a later rollback moved away from",
        "src/shipyard/history.py",
        "                    abandoned.add(replaced.digest)",
        "                    pass",
        "tests/unit/test_local_history.py"
        "::test_rollback_target_is_the_newest_release_the_rule_allows",
    ),
)


def named(only: list[str]) -> int:
    """Apply each NAMED mutation to a copy of src/ and run its test alone: every one must be
    killed (the test fails). Prints a table; returns 1 when one survives."""
    import tempfile

    rows: list[list[str]] = []
    survived = 0
    for n in NAMED:
        if only and n.item not in only:
            continue
        with tempfile.TemporaryDirectory(prefix="shipyard-named-") as tmp:
            copy = Path(tmp) / "src"
            shutil.copytree(ROOT / "src", copy, ignore=shutil.ignore_patterns("__pycache__"))
            target = copy / Path(n.path).relative_to("src")
            text = target.read_text()
            if text.count(n.before) != 1:
                rows.append([n.item, n.behaviour, "NOT APPLIED: the line changed", n.test])
                survived += 1
                continue
            target.write_text(text.replace(n.before, n.after))
            env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
            proc = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", n.test],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
        verdict = {0: "SURVIVED", 1: "killed"}.get(proc.returncode, f"error {proc.returncode}")
        survived += verdict != "killed"
        rows.append([n.item, n.behaviour, verdict, n.test.rsplit("::", 1)[-1]])
    print(tabulate(rows, headers=["item", "behaviour", "mutant", "test"], tablefmt="github"))
    return 1 if survived else 0
