"""Every shared name has one home: routes, environment variables, metric names, headers, model
names and tensor names are defined in the contract module (tritontts_client.contract) and
imported everywhere else. This walks the sources with `ast` and fails on a string literal that
copies one of them outside its home, so a second copy cannot creep back in.

Which values count: every route, environment variable, header and metric name of the
contract; every model name; and the tensor names tritontts itself defines (`TensorSpec`s, and
the SNAC graph's code inputs). Not counted: model-config parameter keys and runtime or
precision words ("threads", "runtime", "f32"), which are ordinary words used in many senses;
the SNAC graph's output "audio", which is also a response format, a config section and a
stream format; and the tensor names of other projects' backends (vLLM, TensorRT-LLM), which
those projects define. Docstrings, the literal parts of f-strings, argparse metavars and
`__all__` lists are prose or Python names, not wire names, and are not looked at.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tritontts_client import contract

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("tritontts", "client", "export", "model_repository", "benchmarks")
HOME = ROOT / "client" / "tritontts_client" / "contract.py"
# Prefixes of contract constants that name other projects' tensors (not counted, see above).
FOREIGN = ("VLLM_", "TRTLLM_")

# Literals that are equal to a contract value but are not a copy of it, each with its reason:
# (path relative to the repository, value).
ALLOWED: dict[tuple[str, str], str] = {
    # Piper's own exported graph names its inputs "input", "input_lengths", "scales" and "sid";
    # its "scales" happens to be the stage graphs' name too. These are Piper's names.
    ("tritontts/piper/voice.py", "scales"): "PIPER_SCALES, the home of Piper's input names",
    # Folders named after the family, not the model: the family's sources under
    # model_repository/ and the checkpoint folder of its version directory.
    ("tritontts/maya1/repository.py", "maya1"): "model_repository/maya1 and its checkpoint",
    ("benchmarks/maya1.py", "maya1"): "a scratch folder for the tiny checkpoint",
}


def contract_names() -> dict[str, str]:
    """Each counted value -> the contract constant that is its home."""
    names: dict[str, str] = {}
    for constant, value in vars(contract).items():
        if constant.startswith("_") or constant.startswith(FOREIGN):
            continue
        if isinstance(value, contract.TensorSpec):
            names.setdefault(value.name, constant)
        elif isinstance(value, str) and _counted(constant, value):
            names.setdefault(value, constant)
        elif constant == "MAYA1_SNAC_INPUTS":
            names.update(dict.fromkeys(value, constant))
    return names


def _counted(constant: str, value: str) -> bool:
    return (constant.endswith(("_ROUTE", "_ENV", "_HEADER", "_MODEL"))
            or constant.startswith("JOBS_ENV_")
            or value.startswith(("tritontts_", "/v1/")))


def literals(path: Path) -> Iterator[ast.Constant]:
    """String constants of a module, less docstrings and the text of f-strings."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    prose: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)):
            prose.add(id(body[0].value))
        if isinstance(node, ast.JoinedStr):
            prose.update(id(part) for part in node.values)
        if isinstance(node, ast.keyword) and node.arg == "metavar":
            prose.add(id(node.value))
        if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                 for t in node.targets)):
            prose.update(id(element) for element in ast.walk(node.value))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in prose):
            yield node


def copies(root: Path = ROOT) -> list[str]:
    names = contract_names()
    found = []
    for folder in SOURCES:
        for path in sorted((root / folder).rglob("*.py")):
            if path.resolve() == HOME or ".venv" in path.parts:
                continue
            relative = path.relative_to(root).as_posix()
            for node in literals(path):
                if node.value in names and (relative, node.value) not in ALLOWED:
                    found.append(f"{relative}:{node.lineno}: {node.value!r} is "
                                 f"contract.{names[node.value]}")
    return found


def test_the_counted_names_cover_every_kind() -> None:
    names = contract_names()
    for value in ("/v1/audio/jobs", "TRITONTTS_REDIS_URL", "TRITONTTS_TRITON_URL",
                  "tritontts_gateway_in_flight", "tritontts_stream_first_audio_ms",
                  "x-tritontts-cache", "tts_stream", "acoustic", "latent", "TEXT", "codes_0"):
        assert value in names, value
    assert "threads" not in names and "text_input" not in names


def test_no_shared_name_is_copied_outside_its_home() -> None:
    found = copies()
    assert not found, "copies of contract names (import them from the contract):\n" + "\n".join(
        found)


def test_every_allowed_literal_is_still_there() -> None:
    """An allow-list entry whose literal is gone would hide the next copy in that file."""
    for relative, value in ALLOWED:
        values = {node.value for node in literals(ROOT / relative)}
        assert value in values, f"{relative} no longer holds {value!r}: drop it from ALLOWED"
