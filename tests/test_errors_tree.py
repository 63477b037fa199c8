"""Every exception class a caller can catch lives in ``localrouter/errors.py``, drawn in its
docstring, and errors.py stays a leaf (it imports nothing of ours)."""

import ast
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import localrouter
from localrouter import errors

# private control flow, raised and caught where it is defined (errors.py's docstring says why)
PRIVATE = {
    "localrouter.config.source._Hostile",
    "localrouter.dialects.anthropic_check_types.Fail",
    "localrouter.mcp.skills._StepFailed",
}


def _exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(localrouter.__path__, "localrouter."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
            ):
                found[f"{info.name}.{name}"] = value
    return found


def test_every_public_exception_is_in_errors() -> None:
    outside = {
        where
        for where in _exception_classes()
        if not where.startswith("localrouter.errors.") and where not in PRIVATE
    }
    assert outside == set()


def test_the_private_ones_stay_private() -> None:
    assert set(_exception_classes()) >= PRIVATE
    # Fail leaves the checks' module only for anthropic_check, whose check() catches it
    importers = [
        info.name
        for info in pkgutil.walk_packages(localrouter.__path__, "localrouter.")
        if "anthropic_check_types import" in _source(info.name)
    ]
    assert importers == ["localrouter.dialects.anthropic_check"]


def test_the_docstring_draws_every_class() -> None:
    doc = errors.__doc__ or ""
    for name, value in vars(errors).items():
        if inspect.isclass(value) and issubclass(value, BaseException):
            assert re.search(rf"^    (.*── )?{name}\b", doc, re.MULTILINE), name  # in the tree


def test_errors_is_a_leaf() -> None:
    tree = ast.parse(Path(str(errors.__file__)).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0
            assert not (node.module or "").startswith("localrouter"), node.module
        elif isinstance(node, ast.Import):
            assert not any(a.name.startswith("localrouter") for a in node.names)


def test_one_request_error_for_every_translation() -> None:
    from localrouter.providers import anthropic_request, gemini_request

    assert anthropic_request.RequestError is gemini_request.RequestError is errors.RequestError


def _source(module: str) -> str:
    return Path(str(importlib.import_module(module).__file__)).read_text()
