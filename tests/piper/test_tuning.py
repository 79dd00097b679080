"""The throughput tuning of the cpu profile serves the same audio: two single-threaded
instances per stage, up to one per core at a time."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tritontts.export.voice import default_voice
from tritontts.piper.baseline import PiperBaseline
from tritontts.piper.cpu import CPU_TUNINGS, cpu_models
from tritontts.piper.voice import ExportedVoice
from tritontts.repository import write_repository
from tritontts.serving.server import TritonServer
from tritontts_client import TTSClient

from helpers import max_abs_diff, running_server

DETERMINISTIC = {"noise_scale": 0.0, "noise_w": 0.0}
TEXTS = ["The first of four requests arrives.", "A second one follows it closely.",
         "The third request asks for a longer answer, with a pause in the middle.",
         "And the fourth one closes the set."]


@pytest.fixture(scope="module")
def throughput_server(exported_voice: ExportedVoice, tmp_path_factory: pytest.TempPathFactory
                      ) -> Iterator[TritonServer]:
    repository = write_repository(cpu_models(exported_voice, CPU_TUNINGS["throughput"]),
                                  tmp_path_factory.mktemp("throughput") / "repo")
    with running_server(repository, cpu_units=2) as server:
        yield server


@pytest.mark.e2e
def test_concurrent_requests_equal_the_original_graph(throughput_server: TritonServer) -> None:
    baseline = PiperBaseline(*default_voice())

    def speak(text: str):
        with TTSClient(throughput_server.grpc_url) as client:
            return client.synthesize(text, **DETERMINISTIC)

    with ThreadPoolExecutor(len(TEXTS)) as pool:
        results = list(pool.map(speak, TEXTS))
    for text, result in zip(TEXTS, results, strict=True):
        assert max_abs_diff(result.audio, baseline.synthesize(text, **DETERMINISTIC)) <= 1e-4
