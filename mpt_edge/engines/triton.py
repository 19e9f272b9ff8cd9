"""A remote engine: the model inputs (made on this host exactly as for a local engine) sent to a Triton
Inference Server over gRPC (``tritonclient``), the logits back. Several hosts — cameras — share one
server, which batches their requests (dynamic batching).

Opening checks, each a one-line error: the server answers, it has the model, and the model's inputs
and outputs are the ones this repository's manifest describes (a server serving another build).
A server that goes away mid-stream never hangs the stream: a failed request marks it down and later
calls fail at once (:class:`ServerUnavailable`, counted by the caller) until the next attempt, spaced
by an exponential back-off (0.5 s doubling to 8 s); the first success after an outage says so.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import numpy as np

from mpt_edge.engines.base import EngineBase
from mpt_edge.errors import InputError, MptEdgeError

DEFAULT_PORT = 8001
REQUEST_TIMEOUT_S = 10.0
BACKOFF_S = (0.5, 8.0)


class ServerUnavailable(MptEdgeError):
    """The server did not answer this request (down, restarting, unreachable)."""


def parse_server(url: str) -> str:
    """``grpc://HOST[:PORT]`` -> ``HOST:PORT`` (tritonclient's form)."""
    parsed = urlparse(url if "://" in url else f"grpc://{url}")
    if parsed.scheme != "grpc" or not parsed.hostname:
        raise InputError(
            f"--server {url!r}: give the server's gRPC address, grpc://HOST:PORT (Triton's "
            f"default port is {DEFAULT_PORT})"
        )
    return f"{parsed.hostname}:{parsed.port or DEFAULT_PORT}"


def _client_module() -> Any:
    try:
        import tritonclient.grpc as grpcclient
    except ImportError:
        raise MptEdgeError(
            "--server needs Triton's client: pip install 'mpt-edge[triton]' (tritonclient[grpc])"
        ) from None
    return grpcclient


class TritonEngine(EngineBase):
    backend = "triton"

    def __init__(
        self,
        url: str,
        model: str,
        inputs: dict[str, list[int]],
        outputs: dict[str, list[int]],
        log: Callable[[str], None] = print,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.grpc = _client_module()
        from tritonclient.utils import InferenceServerException

        self.errors = (InferenceServerException, OSError)
        self.url, self.model, self.log, self.timeout = url, model, log, request_timeout_s
        self.address = parse_server(url)
        self.input_names = list(inputs)
        self.output_name = next(iter(outputs))
        self.client = self.grpc.InferenceServerClient(self.address)
        self.failures = 0  # requests that failed (server down)
        self.outages = 0
        self.down_since: float | None = None
        self.next_attempt = 0.0
        self.backoff = BACKOFF_S[0]
        self._check(inputs, outputs)

    def _check(self, inputs: dict[str, list[int]], outputs: dict[str, list[int]]) -> None:
        try:
            if not self.client.is_server_live(client_timeout=self.timeout):
                raise MptEdgeError(f"Triton server {self.url} is not live; check it is running")
            if not self.client.is_model_ready(self.model, client_timeout=self.timeout):
                index = self.client.get_model_repository_index(client_timeout=self.timeout).models
                mine = [m for m in index if m.name == self.model]
                if mine and mine[0].reason:  # Triton's own word on why it did not load it
                    raise MptEdgeError(
                        f"Triton server {self.url} could not load model {self.model!r}: "
                        f"{_first_line(mine[0].reason, 400)}; fix its config.pbtxt or rebuild the "
                        "repository"
                    )
                if mine:  # listed but not loaded, and no reason given: Triton could not even read its config
                    raise MptEdgeError(
                        f"Triton server {self.url} lists model {self.model!r} but did not load it and gives no reason "
                        "(a config.pbtxt it could not parse: its log says which line); fix the config or "
                        "rebuild the repository"
                    )
                names = sorted(m.name for m in index)
                raise MptEdgeError(
                    f"Triton server {self.url} has no ready model {self.model!r} (it has: "
                    f"{', '.join(names) or 'none'}); "
                    "start it with --model-repository pointing at this bundle"
                )
            metadata = self.client.get_model_metadata(self.model, client_timeout=self.timeout, as_json=True)
        except self.errors as error:
            raise MptEdgeError(
                f"cannot reach Triton server {self.url} ({_first_line(error)}); check the address "
                "and that tritonserver runs"
            ) from None
        served = {t["name"]: [int(d) for d in t["shape"]] for t in metadata.get("inputs", [])}
        wanted = {name: [-1, *shape[1:]] for name, shape in inputs.items()}
        served_out = {t["name"]: [int(d) for d in t["shape"]] for t in metadata.get("outputs", [])}
        wanted_out = {name: [-1, *shape[1:]] for name, shape in outputs.items()}
        if served != wanted or served_out != wanted_out:
            raise InputError(
                f"Triton model {self.model!r} on {self.url} takes {served} -> {served_out}, but "
                "this bundle's manifest says "
                f"{wanted} -> {wanted_out}: the server serves another build; point it at this repository"
            )

    def infer(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        now = time.monotonic()
        if self.down_since is not None and now < self.next_attempt:
            self.failures += 1
            raise ServerUnavailable(
                f"Triton server {self.url} down for {now - self.down_since:.0f} s; next attempt "
                f"in {self.next_attempt - now:.1f} s"
            )
        requests = []
        for name in self.input_names:
            array = np.ascontiguousarray(feeds[name], np.float32)
            tensor = self.grpc.InferInput(name, list(array.shape), "FP32")
            tensor.set_data_from_numpy(array)
            requests.append(tensor)
        try:
            result = self.client.infer(
                self.model,
                requests,
                outputs=[self.grpc.InferRequestedOutput(self.output_name)],
                client_timeout=self.timeout,
            )
        except self.errors as error:
            self.failures += 1
            if self.down_since is None:
                self.down_since, self.outages = now, self.outages + 1
                self.log(
                    f"Triton server {self.url} unavailable ({_first_line(error)}); retrying with "
                    "back-off, frames keep flowing"
                )
            else:
                self.backoff = min(self.backoff * 2, BACKOFF_S[1])
            self.next_attempt = now + self.backoff
            raise ServerUnavailable(f"Triton server {self.url} unavailable: {_first_line(error)}") from None
        if self.down_since is not None:
            self.log(f"Triton server {self.url} back after {now - self.down_since:.1f} s")
            self.down_since, self.backoff = None, BACKOFF_S[0]
        return np.asarray(result.as_numpy(self.output_name))

    def _release(self) -> None:
        self.client.close()

    def statistics(self) -> dict[str, Any]:
        """The server's inference statistics for this model (batches executed, queue and compute times)."""
        return dict(self.client.get_inference_statistics(self.model, as_json=True))


def _first_line(error: object, limit: int = 200) -> str:
    text = str(error).strip().splitlines()
    return text[0][:limit] if text else type(error).__name__
