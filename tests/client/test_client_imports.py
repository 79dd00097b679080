"""The client is usable by services that have neither torch nor onnx installed."""

from __future__ import annotations

import subprocess
import sys

BLOCK_HEAVY = """
import sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'onnx', 'onnxruntime', 'onnx_graphsurgeon',
                                   'polygraphy', 'tensorrt', 'piper_phonemize'}:
            raise ImportError(f'{name} must not be imported by the client')
sys.meta_path.insert(0, Blocker())
"""


def test_client_imports_without_torch_or_onnx() -> None:
    code = BLOCK_HEAVY + (
        "from tritontts_client import TTSClient, Synthesis\n"
        "import tritontts_client.speak\n"
        "TTSClient('localhost:1', 'grpc'); TTSClient('localhost:1', 'http')\n"
        "print('ok')\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
