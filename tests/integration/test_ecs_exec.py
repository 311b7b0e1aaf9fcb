"""inv exec on ECS: moto has no execute_command, so botocore's Stubber answers it (with the ECS
service model), and a stand-in for the Session Manager plugin (an executable on PATH) plays the
container: it runs the command ECS was given with /bin/sh."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from shipyard.adapters import session_manager
from shipyard.errors import ShipyardError, ToolUnavailable
from shipyard.operations.ecs_exec_run import ecs_exec
from shipyard.operations.exec_run import CommandOptions
from tests.support.ecs_exec_run import (
    ACCOUNT,
    CLUSTER,
    FARGATE_SERVICE,
    REGION,
    SERVICE,
    TASK,
    Stubs,
    make_ctx,
)
from tests.support.ecs_stubs import creds

__all__ = ["creds"]  # the fixture


# -- ECS exec: Stubber and a stand-in plugin ------------------------------------------------------
NONCE = "0ddba11"
COMMAND = ("sh", "-c", 'echo "a  b"; exit 5')


def plugin(tmp_path: Path) -> Path:
    """session-manager-plugin as far as shipyard sees it: it records how it was started,
    then plays the container: the command ECS was given, run by /bin/sh."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "session-manager-plugin"
    remote = session_manager.wrapped(COMMAND, NONCE)
    script.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "$@" > "{tmp_path}/plugin-args"\n'
        'echo "Starting session with SessionId: ecs-execute-command-1"\n'
        f"/bin/sh -c {session_manager.shlex.quote(remote)}\n"
        'echo "Exiting session with sessionId: ecs-execute-command-1."\n'
    )
    script.chmod(0o755)
    return bin_dir


def exec_stubs(stubs: Stubs, *, exec_enabled: bool = True) -> None:
    stubs.live(FARGATE_SERVICE)
    stubs.ecs.add_response(
        "list_tasks",
        {"taskArns": [TASK]},
        {"cluster": CLUSTER, "serviceName": SERVICE, "desiredStatus": "RUNNING"},
    )
    stubs.described(
        lastStatus="RUNNING",
        enableExecuteCommand=exec_enabled,
        containers=[{"name": "gamepulse", "runtimeId": "0123abcd-1234567890"}],
    )


SESSION = {"sessionId": "ecs-execute-command-1", "streamUrl": "wss://x", "tokenValue": "tok3nv4lue"}


def test_ecs_exec_starts_the_plugin_as_the_aws_cli_does_and_exits_with_the_command_s_code(
    tmp_path: Path, creds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_manager, "new_nonce", lambda: NONCE)
    bin_dir = plugin(tmp_path)
    ctx, out = make_ctx(tmp_path, PATH=f"{bin_dir}:/usr/bin:/bin")
    screen = io.TextIOWrapper(io.BytesIO(), write_through=True)
    with Stubs(ctx) as stubs:
        exec_stubs(stubs)
        stubs.ecs.add_response(
            "execute_command",
            {
                "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
                "containerName": "gamepulse",
                "interactive": True,
                "session": SESSION,
                "taskArn": TASK,
            },
            {
                "cluster": CLUSTER,
                "task": TASK,
                "container": "gamepulse",
                "command": session_manager.wrapped(COMMAND, NONCE),
                "interactive": True,
            },
        )
        result = ecs_exec(ctx, CommandOptions(COMMAND), screen)
        stubs.done()
    assert result.exit_code == 5
    shown = screen.buffer.getvalue().decode()  # type: ignore[attr-defined]
    assert shown.splitlines() == [
        "Starting session with SessionId: ecs-execute-command-1",
        "a  b",
        "Exiting session with sessionId: ecs-execute-command-1.",
    ]
    args = (tmp_path / "plugin-args").read_text().splitlines()
    assert json.loads(args[0]) == SESSION
    assert args[1:4] == [REGION, "StartSession", ""]
    target = f"ecs:{CLUSTER}_0123456789abcdef0123456789abcdef_0123abcd-1234567890"
    assert json.loads(args[4]) == {"Target": target}
    assert args[5].startswith("https://ecs.ap-northeast-2.amazonaws.com")
    assert "tok3nv4lue" not in out.getvalue()


def test_ecs_exec_without_the_plugin_says_how_to_install_it_before_any_session(
    tmp_path: Path, creds: None
) -> None:
    ctx, _ = make_ctx(tmp_path, PATH=str(tmp_path / "nothing-here"))
    with Stubs(ctx) as stubs:
        exec_stubs(stubs)  # and no execute_command: no session is opened
        with pytest.raises(ToolUnavailable) as err:
            ecs_exec(ctx, CommandOptions(COMMAND), None)
        stubs.done()
    assert "session-manager-plugin" in err.value.one_line()
    assert "session-manager-working-with-install-plugin" in err.value.one_line()
    assert err.value.exit_code == 1


def test_ecs_exec_into_a_task_started_without_ecs_exec_says_how_to_turn_it_on(
    tmp_path: Path, creds: None
) -> None:
    ctx, _ = make_ctx(tmp_path)
    with Stubs(ctx) as stubs:
        exec_stubs(stubs, exec_enabled=False)
        with pytest.raises(ShipyardError, match="started without ECS Exec") as err:
            ecs_exec(ctx, CommandOptions(COMMAND), None)
        stubs.done()
    assert "--enable-execute-command" in (err.value.hint or "")


def test_ecs_exec_dry_run_shows_the_call_and_opens_no_session(
    tmp_path: Path, creds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_manager, "new_nonce", lambda: NONCE)
    ctx, _ = make_ctx(tmp_path, PATH=str(tmp_path / "nothing-here"))
    with Stubs(ctx) as stubs:
        exec_stubs(stubs)
        result = ecs_exec(ctx, CommandOptions(COMMAND, dry_run=True), None)
        stubs.done()
    assert result.plan is not None
    step = result.plan.steps[0]
    assert step.action == "execute-command"
    assert json.loads(step.detail.split(" ", 1)[1])["command"] == session_manager.wrapped(
        COMMAND, NONCE
    )
    assert any("not on PATH" in note for note in result.plan.notes)
