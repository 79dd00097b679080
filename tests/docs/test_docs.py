"""The handbook's generated reference pages (scripts/docs_reference.py, an MkDocs hook) say
everything the code accepts: every option of every `tritontts` subcommand, every gateway route
with the fields of the bodies it reads. `make test` builds the whole handbook strictly."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from tritontts.cli import COMMANDS, build_parser
from tritontts.gateway.app import create_app
from tritontts.gateway.schema import SpeechRequest
from tritontts.gateway.settings import GatewaySettings
from tritontts.jobs.api import JobRequest
from tritontts.jobs.settings import JobSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_reference",
                                                  ROOT / "scripts" / "docs_reference.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_lists_every_option_of_every_command(hook: ModuleType) -> None:
    page = hook.cli_reference()
    for name in COMMANDS:
        assert f"## `tritontts {name}`" in page
        parser = build_parser([name])
        sub = next(action for action in parser._actions
                   if isinstance(action, argparse._SubParsersAction)).choices[name]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for option in action.option_strings or [action.dest]:
                assert f"`{option}`" in page, f"tritontts {name} {option}"


def test_http_reference_lists_every_route_and_body_field(hook: ModuleType) -> None:
    page = hook.http_reference()
    document = create_app(GatewaySettings(jobs=JobSettings())).openapi()
    for path, methods in document["paths"].items():
        for method in methods:
            assert f"## `{method.upper()} {path}`" in page
    for model in (SpeechRequest, JobRequest):
        for field in model.model_fields:
            assert f"| `{field}` |" in page, f"{model.__name__}.{field}"


def test_a_reference_page_without_its_marker_fails_the_build(hook: ModuleType) -> None:
    page = SimpleNamespace(file=SimpleNamespace(src_uri="reference/cli.md"))
    with pytest.raises(ValueError, match="marker"):
        hook.on_page_markdown("# Command line reference\n", page=page)
    untouched = SimpleNamespace(file=SimpleNamespace(src_uri="index.md"))
    assert hook.on_page_markdown("# tritontts\n", page=untouched) == "# tritontts\n"
