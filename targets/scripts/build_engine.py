"""Build the TensorRT engine for this device from the bundle's strongly typed INT8/FP16 ONNX (TensorRT Python API).

Run on the device: ``python3 build_engine.py`` inside the bundle folder. It uses the same builder as
``mpt-edge`` itself (:func:`mpt_edge.engines.tensorrt.build_from_bundle`), so the engine is built
exactly as the runtime would build it on its first start.
"""

import sys
from pathlib import Path

try:
    from mpt_edge.engines.tensorrt import build_from_bundle
except ImportError:
    sys.exit(
        "error: mpt-edge is not installed here: pip install 'mpt-edge[tensorrt]' (or run "
        "build_engine.sh, which needs only trtexec)"
    )

if __name__ == "__main__":
    build_from_bundle(Path(__file__).resolve().parent)
