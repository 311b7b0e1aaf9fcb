"""The release pipeline's extension points place extra steps where asked."""

from __future__ import annotations

from shipyard.pipelines.release import CORE_STEPS, ExtraStep, ReleaseOptions, _order


def _step(name: str, after: str) -> ExtraStep:
    return ExtraStep(name=name, after=after, run=lambda _ctx, _state: name)


def test_core_order() -> None:
    assert _order(ReleaseOptions()) == list(CORE_STEPS)


def test_extra_steps_go_after_their_anchor_in_the_given_order() -> None:
    opts = ReleaseOptions(
        extra_steps=(_step("scan", "push"), _step("sbom", "push"), _step("cleanup", "verify"))
    )
    assert _order(opts) == [
        "version",
        "build",
        "tag",
        "push",
        "scan",
        "sbom",
        "deploy",
        "verify",
        "cleanup",
        "move tags",
    ]


def test_an_unknown_anchor_appends_at_the_end() -> None:
    assert _order(ReleaseOptions(extra_steps=(_step("notify", "nowhere"),)))[-1] == "notify"
