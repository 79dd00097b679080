"""Voices made by the tests: the bundled voice turned multi-speaker, as Piper exports them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnx_graphsurgeon as gs

from tritontts.export.voice import default_voice

SPEAKERS = {"ana": 0, "ben": 1, "cho": 2}
EMBEDDING = 64


def make_multispeaker_voice(folder: Path, seed: int = 7,
                            sample_rate: int = 16000) -> tuple[Path, Path]:
    """The bundled graph with a `sid` input conditioning the decoder as VITS does
    (`x = conv_pre(z) + cond(emb_g(sid))`), and its config with a speaker map and another
    sample rate (the audio is the same samples, declared at that rate)."""
    model_path, config_path = default_voice()
    graph = gs.import_onnx(onnx.load(str(model_path)))
    rng = np.random.default_rng(seed)
    # The single-speaker export left an unrelated constant named "sid": free the name.
    for name, tensor in graph.tensors().items():
        if name == "sid":
            tensor.name = "single_speaker_constant"
    conv_pre = next(n for n in graph.nodes if n.name == "/dec/conv_pre/Conv")
    channels = conv_pre.inputs[1].values.shape[0]

    sid = gs.Variable("sid", dtype=np.int64, shape=["batch_size"])
    table = gs.Constant("emb_g.weight", rng.standard_normal((len(SPEAKERS), EMBEDDING))
                        .astype(np.float32))
    speaker = gs.Variable("/emb_g/Gather_output_0", dtype=np.float32)
    g = gs.Variable("/Unsqueeze_g_output_0", dtype=np.float32)
    cond_weight = gs.Constant("dec.cond.weight", (0.3 * rng.standard_normal(
        (channels, EMBEDDING, 1))).astype(np.float32))
    cond_bias = gs.Constant("dec.cond.bias", np.zeros(channels, dtype=np.float32))
    cond = gs.Variable("/dec/cond/Conv_output_0", dtype=np.float32)
    conditioned = gs.Variable("/dec/Add_cond_output_0", dtype=np.float32)
    (pre,) = conv_pre.outputs
    for consumer in list(pre.outputs):
        consumer.inputs = [conditioned if t is pre else t for t in consumer.inputs]
    graph.nodes += [
        gs.Node("Gather", "/emb_g/Gather", inputs=[table, sid], outputs=[speaker]),
        gs.Node("Unsqueeze", "/Unsqueeze_g",
                inputs=[speaker, gs.Constant("g_axes", np.array([2], dtype=np.int64))],
                outputs=[g]),
        gs.Node("Conv", "/dec/cond/Conv", attrs={"kernel_shape": [1]},
                inputs=[g, cond_weight, cond_bias], outputs=[cond]),
        gs.Node("Add", "/dec/Add_cond", inputs=[pre, cond], outputs=[conditioned]),
    ]
    graph.inputs.append(sid)
    graph.cleanup().toposort()
    folder.mkdir(parents=True, exist_ok=True)
    out_model = folder / "en_US-test-multi.onnx"
    onnx.save(gs.export_onnx(graph), str(out_model))
    config = json.loads(config_path.read_text())
    config.update(num_speakers=len(SPEAKERS), speaker_id_map=SPEAKERS)
    config["audio"]["sample_rate"] = sample_rate
    out_config = folder / "en_US-test-multi.onnx.json"
    out_config.write_text(json.dumps(config))
    return out_model, out_config
