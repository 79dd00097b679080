"""The PNG charts of `make bench`: latency per sentence, throughput against concurrency, sweep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI

import matplotlib.pyplot as plt
from throughput import DIRECT_THREADS, TRITON

DIRECT_COLOR, TRITON_COLOR, CHOSEN_COLOR, GOAL_COLOR = "#7f7f7f", "#1f77b4", "#2ca02c", "#d62728"


def _short(sentence: str, words: int = 4) -> str:
    head = sentence.split()[:words]
    return " ".join(head) + (" …" if len(sentence.split()) > words else "")


def latency_chart(latency: dict[str, Any], path: Path) -> Path:
    rows = latency["sentences"]
    fig, ax = plt.subplots(figsize=(10, 5.5), layout="constrained")
    positions = range(len(rows))
    width = 0.4
    ax.bar([p - width / 2 for p in positions], [r["direct_ms"] for r in rows], width,
           label="direct baseline (in-process ONNX Runtime)", color=DIRECT_COLOR)
    bars = ax.bar([p + width / 2 for p in positions], [r["triton_ms"] for r in rows], width,
                  label="Triton `tts` ensemble over gRPC", color=TRITON_COLOR)
    for bar, row in zip(bars, rows, strict=True):
        ax.annotate(f"×{row['ratio']:.2f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                    textcoords="offset points")
    ax.set_xticks(list(positions),
                  [f"{_short(r['sentence'])}\n({r['audio_s']:.1f} s audio)" for r in rows],
                  rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("median latency per request (ms)")
    # Headroom above the tallest bar, so that the legend never covers a bar's figure.
    ax.set_ylim(0, max(r["triton_ms"] for r in rows) * 1.3)
    ax.set_title(f"Single-stream latency, median of {latency['rounds']} interleaved rounds — "
                 f"total ratio ×{latency['ratio']:.2f}")
    ax.legend(loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def throughput_chart(throughput: dict[str, dict[int, dict]], sequential: float,
                     goal_ratio: float, path: Path, ceiling_ratio: float | None = None) -> Path:
    fig, ax = plt.subplots(figsize=(8, 5), layout="constrained")
    for side, color, label in ((TRITON, TRITON_COLOR,
                                "Triton ensemble (threads share one client)"),
                               (DIRECT_THREADS, DIRECT_COLOR,
                                "direct baseline (threads share one session)")):
        points = throughput[side]
        concurrencies = sorted(points)
        ax.plot(concurrencies, [points[c]["audio_s_per_s"] for c in concurrencies], marker="o",
                color=color, label=label)
    ax.axhline(sequential, color=DIRECT_COLOR, linestyle="--",
               label=f"direct baseline sequential ({sequential:.1f})")
    ax.axhline(sequential * goal_ratio, color=GOAL_COLOR, linestyle=":",
               label=f"goal at concurrency 4: {goal_ratio}× sequential")
    if ceiling_ratio:
        ax.axhline(sequential * ceiling_ratio, color=DIRECT_COLOR, linestyle="-.",
                   label=f"ceiling: 2 single-threaded sessions side by side "
                         f"({ceiling_ratio:.2f}× sequential)")
    concurrencies = sorted(throughput[TRITON])
    ax.set_xscale("log", base=2)
    ax.set_xticks(concurrencies, [str(c) for c in concurrencies])
    ax.set_xlabel("concurrent requests (client threads)")
    ax.set_ylabel("seconds of audio per wall-clock second")
    highest = max(p["audio_s_per_s"] for points in throughput.values() for p in points.values())
    ax.set_ylim(0, max(highest, sequential * goal_ratio) * 1.15)
    ax.set_title("Throughput (median of rounds)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def sweep_chart(sweep: dict[str, Any], path: Path) -> Path:
    rows = sweep["settings"]
    labels = [r["label"] for r in rows]
    recommended = sweep["recommended"]["label"]
    margin = sweep["noise_margin"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(rows) + 2), sharey=True,
                             layout="constrained")
    panels = (("latency_vs_reference", "single-stream latency\n(× defaults; lower is better)"),
              ("throughput_vs_reference",
               f"throughput at concurrency {sweep['concurrency']}\n"
               "(× defaults; higher is better)"))
    for ax, (key, title) in zip(axes, panels, strict=True):
        values = [r[key] for r in rows]
        colors = [CHOSEN_COLOR if label == recommended else TRITON_COLOR for label in labels]
        # Bars grow from 1 (the defaults), so their length is the difference that matters.
        ax.barh(labels, [v - 1 for v in values], left=1, color=colors)
        ax.axvspan(1 - margin, 1 + margin, color=DIRECT_COLOR, alpha=0.2,
                   label=f"noise margin (±{margin:.0%})")
        ax.axvline(1, color="black", linewidth=0.8)
        for y, value in enumerate(values):  # the figure beyond the end of its bar
            outward = 1 if value >= 1 else -1
            ax.annotate(f"{value:.2f}", (value, y), va="center", fontsize=8,
                        ha="left" if outward > 0 else "right", xytext=(3 * outward, 0),
                        textcoords="offset points")
        low, high = min(values), max(values)
        ax.set_xlim(min(low, 1 - margin) - 0.1, max(high, 1 + margin) + 0.15)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    axes[0].invert_yaxis()
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"Repository settings: ratios to the server on the defaults, all timed "
                 f"interleaved\n(green: recommended — {recommended})")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


PEER_COLOR = "#ff7f0e"


def peer_chart(peer: dict[str, Any], path: Path) -> Path:
    """Left: median latency per sentence of tritontts, Piper's http_server and the direct
    baseline; right: requests/s against concurrency for the same three."""
    rows = peer["latency"]["sentences"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5), layout="constrained",
                                      gridspec_kw={"width_ratios": [3, 2]})
    width = 0.27
    sides = (("triton_ms", "tritontts `tts` over gRPC", TRITON_COLOR),
             ("piper_ms", "Piper http_server (piper-tts)", PEER_COLOR),
             ("direct_ms", "direct baseline (in-process)", DIRECT_COLOR))
    for offset, (key, label, color) in zip((-width, 0, width), sides, strict=True):
        left.bar([i + offset for i in range(len(rows))], [r[key] for r in rows], width,
                 label=label, color=color)
    left.set_xticks(list(range(len(rows))),
                    [f"{_short(r['sentence'])}\n({r['triton_audio_s']:.1f} / "
                     f"{r['piper_audio_s']:.1f} s)" for r in rows],
                    rotation=30, ha="right", fontsize=8)
    left.set_ylabel("median latency per request (ms)")
    left.set_title(f"Single stream: tritontts ÷ Piper ×{peer['latency']['triton_vs_piper']:.2f}"
                   " (sum of medians); labels: our / Piper's audio s")
    left.legend(loc="upper left", fontsize=8)
    left.grid(axis="y", alpha=0.3)
    names = {"triton": ("tritontts", TRITON_COLOR), "piper http_server": ("Piper http_server",
                                                                          PEER_COLOR),
             "direct": ("direct baseline (threads share a session)", DIRECT_COLOR),
             "direct threads": ("direct baseline (threads share a session)", DIRECT_COLOR)}
    for side in peer["sides"]:
        label, color = names.get(side, (side, DIRECT_COLOR))
        points = peer["throughput"][side]
        concurrencies = sorted(points, key=int)
        right.plot([int(c) for c in concurrencies],
                   [points[c]["requests_per_s"] for c in concurrencies], marker="o",
                   color=color, label=label)
    right.set_xscale("log", base=2)
    ticks = sorted(int(c) for c in peer["throughput"][peer["sides"][0]])
    right.set_xticks(ticks, [str(c) for c in ticks])
    right.set_xlabel("concurrent requests (client threads)")
    right.set_ylabel("requests per second")
    right.set_ylim(bottom=0)
    right.set_title("Throughput (median of rounds)")
    right.legend(loc="lower right", fontsize=8)
    right.grid(alpha=0.3)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
