"""Shared fixtures: the bundled voice exported once per session, a generated repository, and a
real tritonserver on free ports that is always stopped.

Where a test file goes: the folder of the room whose code it tests — tests/<room>/ for
tritontts/<room>/ (text, piper, repository, serving, gateway, jobs, maya1, commands with
tritontts/cli.py), tests/client/ for client/, tests/export/ for export/, tests/deploy/ for helm/
and the Dockerfile, tests/benchmarks/ for benchmarks/, tests/docs/ for the README and docs/.
What a test starts is said by markers, not folders: e2e (tritonserver), redis, s3, browser,
image, and slow for a serverless test over ~5 CPU seconds (pyproject.toml; `make test-fast`
runs the rest). Helper modules stay here in tests/ (on the path: `from helpers import ...`);
test file basenames are unique across folders (pytest's default import mode needs it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tritontts.export.snac import export_snac_decoder
from tritontts.export.voice import default_voice, export_piper_voice
from tritontts.maya1.prompt import PromptLimits
from tritontts.maya1.repository import Maya1Setup, maya1_models
from tritontts.maya1.tiny import write_tiny_maya1, write_tiny_snac
from tritontts.piper.cpu import cpu_models
from tritontts.piper.voice import ExportedVoice
from tritontts.repository import write_repository
from tritontts.serving.server import TritonServer

import tiers
from helpers import running_server
from voices import make_multispeaker_voice

CACHE_BYTES = 16 << 20

# Fixtures that start a server, and the marker every test using them must carry (checked at
# collection; the helpers that start servers check it again at run time, see tiers.py).
SERVER_FIXTURES = {"server": "e2e", "maya1_server": "e2e"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    unmarked = [f"{item.nodeid} uses `{name}` but is not marked `{marker}`"
                for item in items
                for name, marker in SERVER_FIXTURES.items()
                if name in getattr(item, "fixturenames", ())
                and not item.get_closest_marker(marker)]
    if unmarked:
        raise pytest.UsageError("\n".join(unmarked))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    tiers.current[0] = item


@pytest.fixture(scope="session")
def exported_voice(tmp_path_factory: pytest.TempPathFactory) -> ExportedVoice:
    return export_piper_voice(*default_voice(), tmp_path_factory.mktemp("voices"),
                              progress=lambda _: None)


@pytest.fixture(scope="session")
def multi_speaker_voice(tmp_path_factory: pytest.TempPathFactory
                        ) -> tuple[Path, Path, ExportedVoice]:
    """A multi-speaker Piper voice made by the tests (16 kHz): its graph, config and export."""
    model, config = make_multispeaker_voice(tmp_path_factory.mktemp("multi-source"))
    exported = export_piper_voice(model, config, tmp_path_factory.mktemp("multi-voices"),
                                  progress=lambda _: None)
    return model, config, exported


@pytest.fixture(scope="session")
def voice_copy(exported_voice: ExportedVoice,
               tmp_path_factory: pytest.TempPathFactory) -> ExportedVoice:
    """A private copy for tests that write graph variants beside the stage graphs."""
    directory = tmp_path_factory.mktemp("voice-copy") / exported_voice.name
    shutil.copytree(exported_voice.directory, directory)
    return ExportedVoice.load(directory)


@pytest.fixture(scope="session")
def repository(exported_voice: ExportedVoice, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_repository(cpu_models(exported_voice),
                            tmp_path_factory.mktemp("repo") / "model_repository")


@pytest.fixture(scope="session")
def server(repository: Path) -> Iterator[TritonServer]:
    # A small response cache, for the `tts_cached` model.
    with running_server(repository, response_cache_bytes=CACHE_BYTES) as triton:
        yield triton


# --- Maya1: tiny random checkpoints in the real formats, loaded by the real code -----------

# Short prompts in tests: a sentence of its own per prompt once the text is longer than this.
MAYA1_TEST_CHUNK_CHARS = 40


@pytest.fixture(scope="session")
def maya1_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_maya1(tmp_path_factory.mktemp("maya1") / "maya1")


@pytest.fixture(scope="session")
def snac_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_snac(tmp_path_factory.mktemp("snac") / "snac_24khz")


@pytest.fixture(scope="session")
def snac_graph(snac_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_snac_decoder(snac_checkpoint, tmp_path_factory.mktemp("snac-onnx"),
                               progress=lambda _: None).graph


@pytest.fixture(scope="session")
def maya1_repository(maya1_checkpoint: Path, snac_graph: Path,
                     tmp_path_factory: pytest.TempPathFactory) -> Path:
    setup = Maya1Setup(maya1_checkpoint, snac_graph,
                       PromptLimits(chunk_chars=MAYA1_TEST_CHUNK_CHARS))
    return write_repository(maya1_models(setup),
                            tmp_path_factory.mktemp("maya1-repo") / "model_repository")


@pytest.fixture(scope="session")
def maya1_server(maya1_repository: Path) -> Iterator[TritonServer]:
    with running_server(maya1_repository) as triton:
        yield triton
