"""Where a Piper voice's stages tolerate reduced precision: the one table that the FP16 export
(export/optimize.py, TensorRT) and the bfloat16 "mixed" runtimes (runtimes.py, OpenVINO) both
read, so that the two cannot drift apart.

Globs over node names, per stage: reduced precision where the frame-rate compute is, the
HiFi-GAN vocoder and the convolutions of the flow's coupling layers; full precision for the
text encoder, the duration predictor and the alignment between them (durations are
ceil(exp(logw) * length_scale): any rounding there can move a ceil and change the frame count),
and for the flow's residual stream (split, subtract, concat), which carries the latent itself.
Measured with fp16_parity on the 12 SAMPLE_SENTENCES at speeds 1, 0.25 and 4 (ONNX Runtime CPU,
noise 0):
  whole acoustic graph FP16         4 of 12 frame counts differ at speed 1, 7 at 0.25
  encoder + whole flow FP16         2 of 12 differ at speed 0.25 (the encoder feeds the
                                    duration predictor); min SNR 24.5 dB
  whole flow FP16                   frames exact, min SNR 30.0 dB (at speed 0.25)
  flow convolutions FP16 (chosen)   frames exact, min SNR 41.4 dB over the 36 runs
  vocoder FP16 on FP32 latents      60.5–66.7 dB
"""

from __future__ import annotations

from tritontts_client import contract as c

REDUCED_PRECISION_SCOPES: dict[str, tuple[str, ...]] = {
    c.ACOUSTIC_MODEL: ("/flow/flows.*/enc/*", "/flow/flows.*/pre/*", "/flow/flows.*/post/*"),
    c.VOCODER_MODEL: ("*",),
}

# Ops kept in full precision even inside a scope. RandomNormalLike: the noise, drawn in FP32
# like the original. Exp, Softplus, Log: the exp of log-durations and log-scales, whose relative
# error low precision multiplies. CumSum, ReduceSum, Ceil: durations and frame counts, which must
# be exact. (For FP16 this is on top of ONNX Runtime's default list: Range, CumSum, Min, Max,
# Resize, ...; Piper's flow is mean-only and has none of them, other voices' flows may.)
KEEP_FULL_PRECISION_OPS: tuple[str, ...] = ("RandomNormalLike", "Exp", "Softplus", "Log",
                                            "CumSum", "ReduceSum", "Ceil")
