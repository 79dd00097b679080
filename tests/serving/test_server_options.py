"""The tritonserver command line the runner builds, without starting a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritontts.piper.cpu import CPU_TUNINGS, CpuTuning, cpu_models
from tritontts.repository import parse, write_repository
from tritontts.serving.server import (
    ADMIN_APIS,
    Restriction,
    ServerError,
    ServerOptions,
    ServerTLS,
    TritonInstall,
    TritonServer,
    cpu_units_asked,
)

INSTALL = TritonInstall(Path("/opt/tritonserver/bin/tritonserver"), Path("/opt/backends"),
                        Path("/opt/caches"))


def command(tmp_path: Path, **options: object) -> list[str]:
    return TritonServer(ServerOptions(tmp_path, **options), install=INSTALL).command()


def test_defaults_explicit_control_admin_key_and_turns(tmp_path: Path) -> None:
    cmd = command(tmp_path)
    assert "--model-control-mode=explicit" in cmd and "--load-model=*" in cmd
    assert "--rate-limit=execution_count" in cmd
    grpc = [a for a in cmd if a.startswith("--grpc-restricted-protocol=")]
    http = [a for a in cmd if a.startswith("--http-restricted-api=")]
    assert len(grpc) == len(http) == 1
    apis, _, key = grpc[0].split("=", 1)[1].partition(":")
    assert apis.split(",") == list(ADMIN_APIS) and "inference" not in apis
    header, _, value = key.partition("=")
    assert header == "tritontts-admin-key" and len(value) >= 24  # random when not given
    assert not any(a.startswith("--grpc-use-ssl") for a in cmd)
    # A new runner, a new random key: nobody can have guessed the last one.
    assert command(tmp_path) != cmd


def test_keys_tls_and_cache(tmp_path: Path) -> None:
    for name in ("s.crt", "s.key", "ca.crt"):
        (tmp_path / name).write_text("pem")
    cmd = command(tmp_path, admin_key="admin-1", inference_key="infer-2",
                  tls=ServerTLS(tmp_path / "s.crt", tmp_path / "s.key", tmp_path / "ca.crt"),
                  response_cache_bytes=1 << 20)
    assert (f"--grpc-restricted-protocol={','.join(ADMIN_APIS)}:tritontts-admin-key=admin-1"
            in cmd)
    assert "--http-restricted-api=inference:tritontts-api-key=infer-2" in cmd
    assert "--grpc-use-ssl=true" in cmd and "--grpc-use-ssl-mutual=true" in cmd
    assert f"--grpc-root-cert={(tmp_path / 'ca.crt').resolve()}" in cmd
    assert "--cache-config=local,size=1048576" in cmd


def test_model_control_none_has_no_explicit_flags(tmp_path: Path) -> None:
    cmd = command(tmp_path, model_control="none")
    assert not any(a.startswith(("--model-control-mode", "--load-model")) for a in cmd)


@pytest.mark.parametrize("value", ["has:colon", "has=equals", "a,b", "with space", ""])
def test_key_values_triton_cannot_parse_are_refused(value: str) -> None:
    with pytest.raises(ServerError):
        Restriction(("inference",), "tritontts-api-key", value).args()


def test_missing_tls_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ServerError, match="does not exist"):
        command(tmp_path, tls=ServerTLS(tmp_path / "nope.crt", tmp_path / "nope.key"))


def test_grpc_headers_carry_tritons_prefix() -> None:
    restriction = Restriction(("model-config",), "tritontts-admin-key", "v")
    assert restriction.grpc_headers() == {"triton-grpc-protocol-tritontts-admin-key": "v"}
    assert restriction.http_headers() == {"tritontts-admin-key": "v"}


def test_server_offers_a_cpu_unit_per_core_and_at_least_what_a_stage_asks(
        exported_voice, tmp_path: Path) -> None:
    """Stages hold a "cpu" unit per thread: two single-threaded instances may run at once on
    two cores, one two-threaded instance uses both."""
    latency = write_repository(cpu_models(exported_voice), tmp_path / "latency")
    throughput = write_repository(cpu_models(exported_voice, CPU_TUNINGS["throughput"]),
                                  tmp_path / "throughput")
    assert cpu_units_asked(latency) == 2 and cpu_units_asked(throughput) == 1
    units = [a for a in command(throughput, cpu_units=2) if a.startswith("--rate-limit-resource")]
    assert units == ["--rate-limit-resource=cpu:2"]
    # A machine with fewer cores than a stage's threads still lets that stage run.
    assert "--rate-limit-resource=cpu:2" in command(latency, cpu_units=1)
    assert "--rate-limit-resource=cpu:8" in command(latency, cpu_units=8)
    # No stage takes turns: no resource to offer.
    untuned = write_repository(cpu_models(exported_voice, CpuTuning(take_turns_on_cpu=False)),
                               tmp_path / "untuned")
    assert not any(a.startswith("--rate-limit-resource") for a in command(untuned))
    acoustic = parse((throughput / "acoustic" / "config.pbtxt").read_text())
    assert acoustic.instance_group[0].count == 2
    assert acoustic.instance_group[0].rate_limiter.resources[0].count == 1
