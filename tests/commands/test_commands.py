"""The `tritontts` command line without a server: each subcommand imports only what it needs,
known failures are one line with no traceback, and `phonemize` prints what the server plans."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tritontts.export.voice import default_voice
from tritontts.piper.frontend import FrontendLimits, TextFrontend
from tritontts.piper.voice import PiperVoiceConfig

# What `tritontts speak` must not load: the ONNX runtime, the phonemizer, the renderer.
SERVER_SIDE = ("onnxruntime", "piper_phonemize", "tritontts.repository", "tritontts.piper",
               "tritontts.serving", "onnx")


def tritontts(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tritontts.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=300, check=False)


def modules_after(*argv: str) -> set[str]:
    """The modules imported by `tritontts ARGV` (run in a fresh interpreter)."""
    probe = ("import sys, json\n"
             "from tritontts.cli import main\n"
             "try:\n"
             f"    main({list(argv)!r})\n"
             "except SystemExit:\n"
             "    pass\n"
             "print(json.dumps(sorted(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, check=True)
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_speak_help_imports_nothing_of_the_server() -> None:
    loaded = modules_after("speak", "--help")
    assert "tritontts_client.speak" in loaded
    heavy = sorted(m for m in loaded if m.split(".")[0] in SERVER_SIDE or
                   any(m == s or m.startswith(s + ".") for s in SERVER_SIDE))
    assert heavy == [], heavy
    # Only the chosen subcommand's module was imported.
    assert not {"tritontts.commands.serve", "tritontts.commands.export",
                "tritontts.commands.repository", "tritontts.commands.phonemize"} & loaded


def test_top_level_help_lists_every_command_without_importing_them() -> None:
    result = tritontts("--help")
    assert result.returncode == 0
    for command in ("serve", "speak", "phonemize", "export", "repository"):
        assert command in result.stdout
    assert not any(m.startswith("tritontts.commands.") for m in modules_after("--help"))


@pytest.mark.parametrize(("args", "message"), [
    (["export", "--voice", "no/such/voice.onnx", "--no-variants"], "not found"),
    (["repository", "--voice-dir", "no/such/voice"], "export the voice first"),
    (["serve", "--model-repository", "no/such/repository"], "run `make repository`"),
])
def test_known_failures_are_one_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = tritontts(*args, "--out", str(tmp_path / "out")) if args[0] != "serve" \
        else tritontts(*args)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert message in result.stderr, result.stderr
    assert len([line for line in result.stderr.splitlines() if args[0] in line]) == 1


def test_malformed_lexicon_is_one_line(exported_voice, tmp_path: Path) -> None:
    lexicon = tmp_path / "words.tsv"
    lexicon.write_text("tomato\n")
    result = tritontts("repository", "--voice-dir", str(exported_voice.directory),
                       "--lexicon", str(lexicon), "--out", str(tmp_path / "repo"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "words.tsv, line 1" in result.stderr and "word<TAB>IPA" in result.stderr


def test_phonemize_prints_the_servers_chunks(tmp_path: Path) -> None:
    """A sentence longer than one chunk, an empty sentence whose break merges into the pause
    before it, and a paragraph: the command prints exactly the chunks, id counts and pauses
    that the server's frontend encodes."""
    long_sentence = " ".join(["the old lighthouse keeper counted every passing ship"] * 8) + "."
    text = (f'<speak><p><s>{long_sentence}</s><s>Short one.</s></p>'
            '<break time="700ms"/><p>Next paragraph here.</p></speak>')
    frontend = TextFrontend(PiperVoiceConfig.load(default_voice()[1]))
    batch = frontend.encode(text)
    assert batch.chunks >= 3 and int(batch.lengths.max()) <= FrontendLimits().max_phoneme_ids

    result = tritontts("phonemize", text)
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"ids: (\d+)  rate: ([\d.]+)  pause after: ([\d.]+) s", result.stdout)
    assert [int(ids) for ids, _, _ in rows] == batch.lengths.tolist()
    assert [float(p) for _, _, p in rows] == pytest.approx(batch.pauses_s.tolist(), abs=1e-6)
    assert result.stdout.count("(continued)") == batch.chunks - 3
    assert "Traceback" not in result.stderr


def test_phonemize_refuses_bad_input_in_one_line() -> None:
    result = tritontts("phonemize", "<speak><oops></speak>")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "malformed SSML" in result.stderr
