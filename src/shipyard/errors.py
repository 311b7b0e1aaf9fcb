"""The error vocabulary every layer speaks.

Each error carries one line saying what is wrong and, where it helps, a hint saying how to fix
it. Tasks turn them into an exit code and that line; nothing else is shown without --debug.
Exit codes: 1 failed, 2 bad input or configuration, 3 outcome unknown (timeout), 130 interrupted.
"""

from __future__ import annotations

from shipyard.secrets import redact


class ShipyardError(Exception):
    """Base of every error shipyard reports to a user."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None, result: object = None) -> None:
        self.message = redact(message)
        self.hint = redact(hint) if hint else None
        self.result = result  # what a rollout observed at its end, for --json
        super().__init__(self.message)

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(ShipyardError):
    """The user asked for something that cannot be: a bad flag, value or environment."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration file is invalid; the message names the file and the key path."""


class VersionError(UsageError):
    """version.txt or a requested version is not a valid semantic version."""


class ToolUnavailable(ShipyardError):
    """A required engine or tool (Docker, buildx, nginx, git) is missing or not answering."""


class BuildFailed(ShipyardError):
    pass


class RegistryError(ShipyardError):
    """The registry refused, could not be reached, or does not hold what was expected."""


class AwsError(ShipyardError):
    """An AWS call failed; the message names the operation and the reason."""


class DeployFailed(ShipyardError):
    """The new release did not become healthy; the previous one is still serving."""


class VerifyFailed(DeployFailed):
    pass


class RolledBack(DeployFailed):
    """The release failed after traffic moved and was switched back to the previous one."""


class Superseded(DeployFailed):
    """Another deployment replaced ours while it rolled out; theirs is left alone."""


class ScanFailed(ShipyardError):
    pass


class LockHeld(ShipyardError):
    """Another deploy or rollback holds the environment's lock."""


class StateUnknown(ShipyardError):
    """What serves could not be told (stopped watching, an engine that does not answer)."""

    exit_code = 3


class Interrupted(ShipyardError):
    """A signal stopped a rollout; the message says what serves after its undo."""

    exit_code = 130
