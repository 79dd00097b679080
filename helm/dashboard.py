"""The chart's Grafana dashboard, built with grafana-foundation-sdk.

`make dashboard` writes helm/tritontts/dashboards/tritontts.json; the chart ships it as a
ConfigMap that Grafana's sidecar loads. Every query names only metrics that Triton or the
tritontts models export (tests/deploy/test_helm.py checks each against a real server's /metrics).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, heatmap, prometheus, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from tritontts_client.contract import (
    ENTRY_MODELS,
    FRONTEND_MODEL,
    POSTPROCESS_MODEL,
    STREAM_CANCELLED_TOTAL,
    STREAM_FIRST_AUDIO_MS,
    STREAM_IN_FLIGHT,
)
from tritontts_client.contract import STAGES as STAGE_MODELS

OUT = Path(__file__).resolve().parent / "tritontts" / "dashboards" / "tritontts.json"
UID = "tritontts-serving"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
# The release's series: the chart's monitors set job to the release's full name.
SEL = 'namespace="$namespace", job="$job"'
RATE = "$__rate_interval"


def per_request(counter: str, models: str = "") -> str:
    """Microsecond counter per successful request, in ms, by model (0 when idle, not NaN)."""
    match = f'{SEL}{", " + models if models else ""}'
    return (f"sum by (model) (rate({counter}{{{match}}}[{RATE}])) / 1000"
            f" / clamp_min(sum by (model) (rate(nv_inference_request_success{{{match}}}[{RATE}]))"
            f", 0.001)")


COMPUTE_US = " + ".join(
    f"rate(nv_inference_compute_{part}_duration_us{{{SEL}}}[{RATE}])"
    for part in ("input", "infer", "output"))
ENTRY = f'model=~"{"|".join(ENTRY_MODELS)}"'
STAGES = f'model=~"{"|".join((FRONTEND_MODEL, *STAGE_MODELS, POSTPROCESS_MODEL))}"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str


@dataclass(frozen=True)
class Graph:
    title: str
    unit: str
    queries: tuple[Query, ...]
    description: str = ""
    heatmap: bool = False


ROWS: dict[str, tuple[Graph, ...]] = {
    "Requests": (
        Graph("Request rate", "reqps", (
            Query(f"sum by (model) (rate(nv_inference_request_success{{{SEL}, {ENTRY}}}[{RATE}]))",
                  "{{model}}"),)),
        Graph("tts latency p50 / p95 / p99 (worst replica)", "ms", (
            Query(f'max by (quantile) (nv_inference_request_summary_us{{{SEL}, model="tts", '
                  f'quantile=~"0.5|0.95|0.99"}}) / 1000', "p{{quantile}}"),),
              "Triton's latency summaries (per replica, not averaged across replicas)."),
        Graph("Refusals and failures", "reqps", (
            Query(f'sum by (model, reason) (rate(nv_inference_request_failure{{{SEL}, '
                  f'reason!="CANCELED"}}[{RATE}]))', "{{model}} {{reason}}"),
            Query(f"sum(rate({STREAM_CANCELLED_TOTAL}{{{SEL}}}[{RATE}]))",
                  "streams cancelled by clients")),
              "REJECTED: a full queue or a queue timeout (overload). BACKEND / OTHER: faults."),
    ),
    "Stages": (
        Graph("Queue time per request", "ms", (
            Query(per_request("nv_inference_queue_duration_us", STAGES), "{{model}}"),),
              "The autoscaler's signal is acoustic's (the gate of the pipeline)."),
        Graph("Compute time per request", "ms", (
            Query(f"sum by (model) ({COMPUTE_US}) / 1000 / clamp_min(sum by (model) "
                  f"(rate(nv_inference_request_success{{{SEL}}}[{RATE}])), 0.001)",
                  "{{model}}"),)),
        Graph("Queue / compute time", "none", (
            Query(f"sum by (model) (rate(nv_inference_queue_duration_us{{{SEL}, {STAGES}}}"
                  f"[{RATE}])) / clamp_min(sum by (model) ({COMPUTE_US}), 0.001)",
                  "{{model}}"),)),
        Graph("Average batch size (inferences / executions)", "none", (
            Query(f"sum by (model) (rate(nv_inference_count{{{SEL}, {STAGES}}}[{RATE}]))"
                  f" / clamp_min(sum by (model) (rate(nv_inference_exec_count{{{SEL}, "
                  f"{STAGES}}}[{RATE}])), 0.001)", "{{model}}"),)),
        Graph("Pending requests", "short", (
            Query(f"sum by (model) (nv_inference_pending_request_count{{{SEL}}})",
                  "{{model}}"),)),
    ),
    "Cache and streams": (
        Graph("Response cache hit ratio", "percentunit", (
            Query(f"sum by (model) (rate(nv_cache_num_hits_per_model{{{SEL}}}[{RATE}]))"
                  f" / clamp_min(sum by (model) (rate(nv_cache_num_hits_per_model{{{SEL}}}"
                  f"[{RATE}]) + rate(nv_cache_num_misses_per_model{{{SEL}}}[{RATE}])), 0.001)",
                  "{{model}}"),)),
        Graph("Stream time to first audio", "ms", (
            Query(f"sum by (le) (rate({STREAM_FIRST_AUDIO_MS}_bucket{{{SEL}}}[{RATE}]))",
                  "{{le}}"),), heatmap=True),
        Graph("Stream time to first audio p50 / p95", "ms", (
            Query(f"histogram_quantile(0.5, sum by (le) "
                  f"(rate({STREAM_FIRST_AUDIO_MS}_bucket{{{SEL}}}[{RATE}])))", "p50"),
            Query(f"histogram_quantile(0.95, sum by (le) "
                  f"(rate({STREAM_FIRST_AUDIO_MS}_bucket{{{SEL}}}[{RATE}])))", "p95"))),
        Graph("Streams in flight", "short", (
            Query(f"sum({STREAM_IN_FLIGHT}{{{SEL}}})", "streams"),)),
    ),
    "Resources": (
        Graph("GPU utilization", "percentunit", (
            Query(f"avg by (pod, gpu_uuid) (nv_gpu_utilization{{{SEL}}})",
                  "{{pod}} {{gpu_uuid}}"),), "gpu profile only."),
        Graph("GPU memory", "bytes", (
            Query(f"sum by (pod, gpu_uuid) (nv_gpu_memory_used_bytes{{{SEL}}})",
                  "used {{pod}} {{gpu_uuid}}"),
            Query(f"sum by (pod, gpu_uuid) (nv_gpu_memory_total_bytes{{{SEL}}})",
                  "total {{pod}} {{gpu_uuid}}")), "gpu profile only."),
        Graph("CPU utilization", "percentunit", (
            Query(f"avg by (pod) (nv_cpu_utilization{{{SEL}}})", "{{pod}}"),)),
        Graph("CPU memory used", "bytes", (
            Query(f"sum by (pod) (nv_cpu_memory_used_bytes{{{SEL}}})", "{{pod}}"),)),
    ),
}


def panel(graph: Graph, panel_id: int) -> timeseries.Panel | heatmap.Panel:
    built = (heatmap.Panel().calculate(False) if graph.heatmap
             else timeseries.Panel().unit(graph.unit))
    built = built.id(panel_id).title(graph.title).datasource(DATASOURCE).height(8).span(8)
    if graph.description:
        built = built.description(graph.description)
    for ref, query in zip("ABCDEFGH", graph.queries, strict=False):
        target = (prometheus.Dataquery().ref_id(ref).expr(query.expr)
                  .legend_format(query.legend))
        if graph.heatmap:
            target = target.format(PromQueryFormat.HEATMAP)
        built = built.with_target(target)
    return built


def build() -> dict:
    board = (dashboard.Dashboard("tritontts")
             .uid(UID)
             .tags(["tritontts", "triton", "tts"])
             .refresh("30s")
             .time("now-3h", "now")
             .with_variable(dashboard.DatasourceVariable("datasource").label("Data source")
                            .type("prometheus"))
             .with_variable(dashboard.QueryVariable("namespace").label("Namespace")
                            .datasource(DATASOURCE)
                            .query("label_values(nv_inference_count, namespace)")
                            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED))
             .with_variable(dashboard.QueryVariable("job").label("Release")
                            .datasource(DATASOURCE)
                            .query('label_values(nv_inference_count{namespace="$namespace"}, job)')
                            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)))
    panel_id = 0
    for title, graphs in ROWS.items():
        panel_id += 1
        board = board.with_row(dashboard.Row(title).id(panel_id))
        for graph in graphs:
            panel_id += 1
            board = board.with_panel(panel(graph, panel_id))
    return json.loads(JSONEncoder(sort_keys=True, indent=2).encode(board.build()))


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render())
    print(f"wrote {OUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
