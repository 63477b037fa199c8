"""The vendored uPlot files are the ones VENDOR.md names: same sha256, licence present."""

import hashlib
import re
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "localrouter/dashboard/static/vendor/uplot"
# a row of VENDOR.md's table: | `file` | from | `sha256` |
ROW = re.compile(r"^\| `(?P<name>[^`]+)` \|[^|]*\| `(?P<sha>[0-9a-f]{64})` \|$", re.MULTILINE)


def recorded() -> dict[str, str]:
    text = (VENDOR / "VENDOR.md").read_text(encoding="utf-8")
    return {m["name"]: m["sha"] for m in ROW.finditer(text)}


def test_vendor_md_lists_every_vendored_file() -> None:
    files = {p.name for p in VENDOR.iterdir() if p.is_file() and p.name != "VENDOR.md"}
    assert set(recorded()) == files == {"uPlot.esm.js", "uPlot.min.css", "LICENSE"}


def test_each_vendored_file_matches_its_sha256() -> None:
    for name, sha in recorded().items():
        actual = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert actual == sha, f"{name} differs from VENDOR.md: refresh it as VENDOR.md says"


def test_licence_is_mit() -> None:
    licence = (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert "MIT" in licence
    assert "Permission is hereby granted, free of charge" in licence


def test_esm_build_is_the_version_vendor_md_names() -> None:
    text = (VENDOR / "VENDOR.md").read_text(encoding="utf-8")
    version = re.search(r"^- Version: (\S+)$", text, re.MULTILINE)
    assert version is not None
    assert f"uplot-{version[1]}.tgz" in text
    source = (VENDOR / "uPlot.esm.js").read_text(encoding="utf-8")
    assert f"(v{version[1]})" in "\n".join(source.splitlines()[:10])
    assert "export { uPlot as default };" in source
