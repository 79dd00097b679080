"""The tritonserver command line the runner builds, without starting a server."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritontts.server import (
    ADMIN_APIS,
    Restriction,
    ServerError,
    ServerOptions,
    ServerTLS,
    TritonInstall,
    TritonServer,
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
