"""The real Triton Inference Server core, on this CPU machine, for the tests and bench_server.py.

``nvidia-pytriton`` 0.7.0 (PyPI) bundles ``tritonserver`` 2.51 with only the Python backend; it pins
numpy < 2, so it lives in its own venv (``$XDG_CACHE_HOME/mpt-edge/triton-venv``). The C++ ONNX Runtime
and OpenVINO backends ship only in NVIDIA's containers, so two Python-based backends named
``onnxruntime`` and ``openvino`` (tests/helpers/triton_backends/model.py, Triton's documented mechanism) stand
in for them: the repository ``mpt-edge build --target triton-cpu`` writes is served unchanged.

    python tests/helpers/triton_server.py setup      # once (.ci/run does it): the venv
    python tests/helpers/triton_server.py serve REPO # a server on 127.0.0.1 until Ctrl-C

The server binds to 127.0.0.1 only. The Python backend's stub needs ``PATH`` to the venv's ``bin`` and
``LD_LIBRARY_PATH`` to its Python's ``LIBDIR`` and ``nvidia_pytriton.libs``, or it crashes on a
mismatched libpython.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("nvidia-pytriton==0.7.0", "onnxruntime==1.32.0", "openvino==2026.4.1")
BACKENDS = Path(__file__).parent / "triton_backends"


def venv_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mpt-edge" / "triton-venv"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def site_packages(venv: Path) -> Path:
    found = sorted((venv / "lib").glob("python3*/site-packages"))
    if not found:
        raise RuntimeError(f"{venv} is not a venv")
    return found[0]


def ready_venv() -> Path | None:
    venv = venv_dir()
    if (venv / ".mpt-edge-ready").is_file() and (
        site_packages(venv) / "pytriton" / "tritonserver" / "bin" / "tritonserver"
    ).is_file():
        return venv
    return None


def setup() -> Path:
    """Create the venv (idempotent): the Triton core and the two backends' libraries."""
    venv = venv_dir()
    if ready_venv():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(_python(venv)), "-m", "pip", "install", "--quiet", *PACKAGES], check=True)
    (venv / ".mpt-edge-ready").write_text(" ".join(PACKAGES))
    return venv


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    grpc_port: int
    http_port: int
    metrics_port: int
    log: Path

    @property
    def grpc_url(self) -> str:
        return f"grpc://127.0.0.1:{self.grpc_port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/v2/health/ready", timeout=1) as answer:
                return answer.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.kill()  # whatever is left of its group: the Python backend's stub processes

    def kill(self) -> None:
        """The server and its backend stubs gone at once, as a crashed server or container is."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def backend_directory(venv: Path, into: Path) -> Path:
    """python/ (the wheel's Python backend and its stub for the venv's Python) beside the stand-ins."""
    triton = site_packages(venv) / "pytriton" / "tritonserver"
    python = into / "python"
    shutil.copytree(triton / "backends" / "python", python)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = triton / "python_backend_stubs" / version / "triton_python_backend_stub"
    shutil.copy2(stub, python / "triton_python_backend_stub")
    for name in ("onnxruntime", "openvino"):  # one stand-in, under both backends' names
        (into / name).mkdir()
        shutil.copy2(BACKENDS / "model.py", into / name / "model.py")
    return into


def start(
    repository: Path,
    workdir: Path,
    ports: tuple[int, int, int] | None = None,
    extra: tuple[str, ...] = (),
    wait: float = 90.0,
) -> Server:
    """``tritonserver`` on 127.0.0.1 serving ``repository``; returns once it is READY (or raises with
    its log's last lines)."""
    venv = ready_venv() or setup()
    triton = site_packages(venv) / "pytriton" / "tritonserver"
    backends = workdir / "backends"
    if not backends.is_dir():
        backend_directory(venv, backends)
    grpc_port, http_port, metrics_port = ports or (free_port(), free_port(), free_port())
    libdir = subprocess.run(
        [str(_python(venv)), "-c", "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    env = {
        **os.environ,
        "PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '')}",
        "LD_LIBRARY_PATH": ":".join(
            [str(libdir), str(site_packages(venv) / "nvidia_pytriton.libs"), os.environ.get("LD_LIBRARY_PATH", "")]
        ),
        "VIRTUAL_ENV": str(venv),
    }
    env.pop("PYTHONPATH", None)
    log = workdir / f"tritonserver-{grpc_port}.log"
    command = [
        str(triton / "bin" / "tritonserver"),
        f"--model-repository={repository}",
        f"--backend-directory={backends}",
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--metrics-address=127.0.0.1",
        f"--http-port={http_port}",
        f"--grpc-port={grpc_port}",
        f"--metrics-port={metrics_port}",
        "--allow-metrics=true",
        "--log-verbose=0",
        *extra,
    ]
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=workdir, start_new_session=True
        )
    server = Server(process, grpc_port, http_port, metrics_port, log)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if server.ready():
            return server
        time.sleep(0.2)
    server.stop()
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise RuntimeError(f"tritonserver did not become ready (exit {process.poll()}):\n{tail}")


@contextlib.contextmanager
def serving(
    repository: Path, ports: tuple[int, int, int] | None = None, extra: tuple[str, ...] = ()
) -> Iterator[Server]:
    with tempfile.TemporaryDirectory(prefix="mpt-edge-triton-") as workdir:
        server = start(repository, Path(workdir), ports, extra)
        try:
            yield server
        finally:
            server.stop()


if __name__ == "__main__":
    if sys.argv[1:2] == ["setup"]:
        print(setup())
    elif sys.argv[1:2] == ["serve"] and len(sys.argv) == 3:
        with serving(Path(sys.argv[2])) as running:
            print(f"serving {sys.argv[2]} at {running.grpc_url} (HTTP {running.http_port}); Ctrl-C stops")
            with contextlib.suppress(KeyboardInterrupt):
                running.process.wait()
    else:
        raise SystemExit(__doc__)
