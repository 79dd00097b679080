"""What the benchmarks share: held-out text, a server of their own, percentiles, results."""

from __future__ import annotations

import json
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from tritontts.export.voice import default_voice, export_piper_voice
from tritontts.piper.cpu import CpuTuning, cpu_models
from tritontts.piper.tuning import AUTO_RUNTIME
from tritontts.repository import write_repository
from tritontts.serving.server import ServerOptions, TritonServer, free_port

RESULTS = Path(__file__).resolve().parent / "results"

# Held-out sentences (none is from the voice's training prompts).
SENTENCES = [
    "Good morning, and welcome aboard.",
    "The next train to the airport leaves in five minutes from platform two.",
    "Please keep your belongings with you at all times.",
    "Your order has shipped and will arrive on Tuesday afternoon.",
    "I could not find that contact; would you like to try again?",
    "The meeting has been moved to the large conference room on the third floor.",
    "Thank you for calling, how can I help you today?",
    "Remember to drink water and take a short walk every hour.",
]

def unseen_sentences(count: int, seed: int = 0) -> list[str]:
    """`count` different sentences of 3 to ~30 words, as a voice agent's turns vary, none said
    before in the run: what a server meets in real traffic, where every new length is a new
    input shape for the stage graphs (unlike SENTENCES, repeated round after round)."""
    import random

    rng = random.Random(seed)
    subjects = ("your order", "the next train", "flight two forty", "your appointment",
                "the package", "your refund", "our support team", "the meeting")
    verbs = ("arrives", "leaves", "is confirmed", "was moved", "will be ready", "is delayed")
    times = ("at nine thirty", "tomorrow morning", "in about twenty minutes", "on Friday",
             "later this afternoon", "before noon on Monday")
    tails = ("and you will get a message when it changes", "so please keep your phone nearby",
             "unless the weather gets worse tonight", "as we discussed on the phone last week",
             "and the details are in the email we sent you")
    openers = ("Thanks for waiting.", "Good news.", "Just so you know,", "One more thing:")
    made: list[str] = []
    while len(made) < count:
        words = [rng.choice(subjects).capitalize(), rng.choice(verbs), rng.choice(times)]
        for _ in range(rng.randint(0, 2)):
            words.append(rng.choice(tails))
        text = " ".join(words) + "."
        if rng.random() < 0.4:
            opener = rng.choice(openers)
            text = f"{opener} {text if opener.endswith('.') else text[0].lower() + text[1:]}"
        if text not in made and text not in SENTENCES:
            made.append(text)
    return made


# Sixty words in four sentences, as a voice agent might answer.
PARAGRAPH_60_WORDS = (
    "Thanks for waiting, I found your booking for two nights at the harbor hotel. "
    "Check in opens at three in the afternoon, and breakfast is served until ten every morning. "
    "The room has a view of the water and a small balcony. "
    "Would you like me to add late checkout or a parking space for your car?"
)


def start_server(stack: ExitStack, tuning: CpuTuning | None = None,
                 response_cache_bytes: int = 0) -> TritonServer:
    """Export the bundled voice and start tritonserver on free ports, stopped by `stack`;
    without `tuning`, on what `tritontts repository` serves by default on this CPU."""
    print("starting tritonserver ...", file=sys.stderr)
    work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tritontts-bench-")))
    voice = export_piper_voice(*default_voice(), work / "voices", progress=lambda _: None)
    tuning = tuning or CpuTuning().with_runtime(AUTO_RUNTIME)
    repository = write_repository(cpu_models(voice, tuning), work / "model_repository")
    options = ServerOptions(repository, http_port=free_port(), grpc_port=free_port(),
                            metrics_port=free_port(), response_cache_bytes=response_cache_bytes)
    return stack.enter_context(TritonServer(options, log_file=work / "tritonserver.log"))


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return path
