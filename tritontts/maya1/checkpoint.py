"""Loading Maya1 from local folders: a Hugging Face snapshot of the LM (config.json,
*.safetensors, tokenizer.json) and a SNAC 24 kHz folder (config.json, pytorch_model.bin).
Nothing is fetched from a hub; a missing or incomplete folder is a clear error."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritontts.errors import MissingFileError
from tritontts.maya1.tokens import CODE_END, CODE_LIMIT, VOCAB_SIZE

LM_FILES = ("config.json", "tokenizer.json")
SNAC_FILES = ("config.json", "pytorch_model.bin")


class CheckpointError(MissingFileError):
    """A checkpoint folder is absent, incomplete or not of the Maya1 layout."""


@dataclass(frozen=True)
class Maya1Checkpoint:
    directory: Path

    def check(self) -> Maya1Checkpoint:
        _require(self.directory, LM_FILES, "Maya1 snapshot (maya-research/maya1)")
        if not any(self.directory.glob("*.safetensors")):
            raise CheckpointError(f"{self.directory} has no *.safetensors weights: download "
                                  "the whole maya-research/maya1 snapshot into it")
        config = json.loads((self.directory / "config.json").read_text())
        vocab = int(config.get("vocab_size", 0))
        if config.get("model_type") != "llama" or vocab < CODE_LIMIT or vocab <= CODE_END:
            raise CheckpointError(
                f"{self.directory}/config.json is not a Maya1 LM (model_type "
                f"{config.get('model_type')!r}, vocab_size {vocab}; expected llama, "
                f"{VOCAB_SIZE})")
        return self

    def load_model(self, dtype: str = "auto") -> Any:
        import torch
        from transformers import LlamaForCausalLM

        self.check()
        torch_dtype = dtype if dtype == "auto" else getattr(torch, dtype)
        return LlamaForCausalLM.from_pretrained(self.directory, dtype=torch_dtype,
                                                local_files_only=True).eval()

    def load_tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        self.check()
        return Tokenizer.from_file(str(self.directory / "tokenizer.json"))


@dataclass(frozen=True)
class SnacCheckpoint:
    directory: Path

    def check(self) -> SnacCheckpoint:
        _require(self.directory, SNAC_FILES, "SNAC 24 kHz folder (hubertsiuzdak/snac_24khz)")
        return self

    def load(self) -> Any:
        from snac import SNAC

        self.check()
        return SNAC.from_pretrained(str(self.directory)).eval()


def _require(directory: Path, files: tuple[str, ...], what: str) -> None:
    if not directory.is_dir():
        raise CheckpointError(f"{directory} is not a folder: it should hold the {what}")
    missing = [name for name in files if not (directory / name).is_file()]
    if missing:
        raise CheckpointError(f"{directory} lacks {', '.join(missing)} of the {what}")


def load_tokenizer_file(path: Path) -> Any:
    """A tokenizer.json alone (the gpu profile's stream model has no weights beside it)."""
    from tokenizers import Tokenizer

    if not Path(path).is_file():
        raise CheckpointError(f"{path} does not exist: it should be the Maya1 tokenizer.json")
    return Tokenizer.from_file(str(path))
