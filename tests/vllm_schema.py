"""vLLM's engine-argument schema, as Triton's vLLM backend applies it to model.json
(`AsyncEngineArgs(**model_json)`): the fields of `AsyncEngineArgs` and their annotations.

vLLM needs CUDA and cannot be installed on the CPU machines the tests run on, so the fields
are read from vLLM's own source (`vllm/engine/arg_utils.py`, `EngineArgs` and its subclass
`AsyncEngineArgs`) with `ast`, and kept in tests/data/vllm/. Regenerate from a wheel:

    pip download vllm --no-deps -d /some/dir
    python tests/vllm_schema.py /some/dir/vllm-*.whl > tests/data/vllm/engine_args.json

Where vLLM is importable (a GPU host), the tests use the installed class instead.
"""

from __future__ import annotations

import ast
import json
import sys
import zipfile
from pathlib import Path

TABLE = Path(__file__).parent / "data" / "vllm" / "engine_args.json"
SOURCE = "vllm/engine/arg_utils.py"


def fields_from_source(source: str) -> dict[str, str]:
    """{field: annotation} of EngineArgs and AsyncEngineArgs in arg_utils.py's text."""
    fields: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name in ("EngineArgs", "AsyncEngineArgs"):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    fields[item.target.id] = ast.unparse(item.annotation)
    return fields


def engine_fields() -> tuple[str, dict[str, str]]:
    """(where the schema came from, {field: annotation})."""
    try:
        import dataclasses

        import vllm  # type: ignore[import-not-found]
        from vllm.engine.arg_utils import AsyncEngineArgs  # type: ignore[import-not-found]
    except ImportError:
        table = json.loads(TABLE.read_text())
        return f"vllm {table['vllm_version']} ({SOURCE}, recorded)", table["fields"]
    return f"vllm {vllm.__version__} (installed)", {
        f.name: str(f.type) for f in dataclasses.fields(AsyncEngineArgs)}


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        source = archive.read(SOURCE).decode()
    version = Path(wheel).name.split("-")[1]
    json.dump({"vllm_version": version, "source": SOURCE,
               "fields": fields_from_source(source)}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
