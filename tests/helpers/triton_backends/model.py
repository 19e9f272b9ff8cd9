"""The Python-based Triton backends ``onnxruntime`` and ``openvino`` (Triton's documented mechanism: a
``model.py`` in ``<backend-directory>/<backend name>/``; tests/helpers/triton_server.py copies this
file under both names). They stand in for the C++ backends that only NVIDIA's containers ship and
serve models configured exactly as for those (``platform: "onnxruntime_onnx"`` + ``<version>/model.onnx``,
``backend: "openvino"`` + ``<version>/model.xml``), so the repository mpt-edge builds is served
unchanged. The requests of one dynamic batch run as one batch. Test helper only."""

import json
import os

import numpy as np
import triton_python_backend_utils as pb_utils


def _runner(path, threads):
    """feeds -> outputs in the config's order, with the library the model file calls for."""
    if path.endswith(".xml"):
        import openvino as ov

        core = ov.Core()
        compiled = core.compile_model(
            core.read_model(path), "CPU", {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
        )
        return lambda feeds, names: [np.asarray(compiled(feeds)[compiled.output(n)]) for n in names]
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return lambda feeds, names: session.run(names, feeds)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        default = "model.xml" if config.get("backend") == "openvino" else "model.onnx"
        path = os.path.join(
            args["model_repository"], args["model_version"], config.get("default_model_filename") or default
        )
        self.run = _runner(path, int(os.environ.get("MPT_EDGE_TRITON_THREADS", "1")))
        self.inputs = [i["name"] for i in config["input"]]
        self.outputs = [o["name"] for o in config["output"]]

    def execute(self, requests):
        arrays = [[pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self.inputs] for r in requests]
        sizes = [a[0].shape[0] for a in arrays]
        feeds = {name: np.concatenate([a[k] for a in arrays]) for k, name in enumerate(self.inputs)}
        results = self.run(feeds, self.outputs)
        responses, start = [], 0
        for size in sizes:
            tensors = [
                pb_utils.Tensor(name, np.ascontiguousarray(value[start : start + size]))
                for name, value in zip(self.outputs, results)
            ]
            responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            start += size
        return responses
