"""The public surface is pinned: a change here is a deliberate API change."""

import localrouter


def test_exported_members() -> None:
    assert localrouter.__all__ == [
        "__version__",
        "BuildResult",
        "Decision",
        "Diagnostic",
        "NowFacts",
        "RequestFacts",
        "RoutingTable",
        "Severity",
        "Span",
        "build",
        "route",
    ]
    for name in localrouter.__all__:
        assert getattr(localrouter, name) is not None
