"""The wheel and the sdist hold the package, README and LICENSE only, with the metadata a user's
installer reads (license, Python versions, extras). Built with hatchling's own API: offline, no
isolated build environment, about a second."""

from __future__ import annotations

import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from hatchling.builders.sdist import SdistBuilder
from hatchling.builders.wheel import WheelBuilder

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "langgraph_hybrid_memory"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    wheel = next(WheelBuilder(str(ROOT)).build(directory=str(out), versions=["standard"]))
    sdist = next(SdistBuilder(str(ROOT)).build(directory=str(out), versions=["standard"]))
    return {"wheel": Path(wheel), "sdist": Path(sdist)}


def test_wheel_holds_the_package_and_license_only(built: dict[str, Path]) -> None:
    names = zipfile.ZipFile(built["wheel"]).namelist()
    top = {name.split("/")[0] for name in names}
    dist_info = next(t for t in top if t.endswith(".dist-info"))
    assert top == {PACKAGE, dist_info}
    assert f"{PACKAGE}/py.typed" in names
    assert f"{PACKAGE}/server.py" in names
    assert f"{dist_info}/licenses/LICENSE" in names
    assert not [n for n in names if "/tests/" in n or n.endswith((".png", ".pyc"))]


def test_wheel_metadata(built: dict[str, Path]) -> None:
    wheel = zipfile.ZipFile(built["wheel"])
    meta_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    meta = Parser().parsestr(wheel.read(meta_name).decode())
    assert meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.10"
    assert "Programming Language :: Python :: 3.12" in meta.get_all("Classifier", [])
    assert {"embedded", "local", "openai", "chroma", "dev"} <= set(meta.get_all("Provides-Extra"))
    requires = meta.get_all("Requires-Dist", [])
    # A user's project keeps its own torch and does not need OpenAI's client.
    torch = [r.split(";")[0] for r in requires if r.startswith("torch")]
    assert torch == ["torch>=2.2"], torch
    assert not [r for r in requires if r.startswith("langchain-openai") and "extra" not in r]
    openai = [r for r in requires if r.startswith("langchain-openai")]
    assert "langchain-openai>=0.3; extra == 'openai'" in openai, openai
    assert all("; extra ==" in r for r in openai), openai
    assert meta.get_all("Project-URL")
    assert "## Install" in (meta.get_payload() or "")


def test_sdist_holds_the_package_readme_and_license_only(built: dict[str, Path]) -> None:
    with tarfile.open(built["sdist"]) as tar:
        names = tar.getnames()
    root = names[0].split("/")[0]
    top = {n.split("/")[1] for n in names if "/" in n}
    # hatchling always adds .gitignore (and PKG-INFO); nothing else beyond what we list.
    assert top <= {PACKAGE, "README.md", "LICENSE", "pyproject.toml", "PKG-INFO", ".gitignore"}
    assert {PACKAGE, "README.md", "LICENSE"} <= top
    assert f"{root}/{PACKAGE}/py.typed" in names
