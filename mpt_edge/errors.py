"""User-facing errors: the CLI prints them as one line and exits 2, never a traceback."""


class MptEdgeError(Exception):
    """A problem the user can fix (bad input, missing file); the message names the fix."""


class InputError(MptEdgeError, ValueError):
    """Input data of the wrong shape, dtype or value; a ValueError so library callers can catch it."""


# What to do about each operating-system failure a user meets: the path comes from the exception.
_OS_ADVICE = {
    "ENOSPC": "no space left on the device: free some space or choose a folder on another disk",
    "EDQUOT": "disk quota exceeded: free some space or choose a folder on another disk",
    "EROFS": "read-only file system: choose a writable folder",
    "ENAMETOOLONG": "file name too long for its file system: choose a shorter name",
    "EACCES": "permission denied: choose a folder you can write, or fix its permissions",
    "EPERM": "operation not permitted: choose a folder you can write, or fix its permissions",
    "ENOENT": "no such file or folder: check the path",
    "EEXIST": "already exists: choose another name",
    "ENOTDIR": "a part of the path is a file, not a folder: check the path",
    "EISDIR": "is a folder, not a file: name a file",
    "ENOTEMPTY": "folder not empty: choose another folder",
    "EIO": "input/output error: the disk or the network file system failed; check it and retry",
    "EMFILE": "too many open files: raise `ulimit -n` or close other programs",
    "EADDRINUSE": "address already in use: choose another port, or stop the program using it",
    "EADDRNOTAVAIL": (
        "cannot bind that address here: choose an address of this machine (127.0.0.1 for this machine only)"
    ),
}


def library_reason(error: BaseException, limit: int = 240) -> str:
    """What a library's exception says, in one line: OpenVINO's start with a line naming its own source file
    (``Exception from src/inference/src/cpp/core.cpp:132:``) and give the reason after it, so keeping
    only the first line lost the reason."""
    import re

    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    said = [
        line
        for line in lines
        if not re.match(r"^(Exception from |Check '.*' failed at )?\S+\.(cpp|hpp|h):\d+:?$", line)
    ]
    said = [re.sub(r"^Exception from \S+:\d+:\s*", "", line) for line in said] or lines
    text = " ".join(said) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _os_line(error: OSError) -> str:
    import errno as errno_module

    name = errno_module.errorcode.get(error.errno or -1, "")
    advice = _OS_ADVICE.get(name) or f"{error.strerror or error}: check the path and retry"
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    return f"{' -> '.join(paths) or 'a file'}: {advice}"


#: Which extra of the package brings a module the base (device) install lacks.
EXTRA_OF_MODULE = {
    **dict.fromkeys(
        ("torch", "sklearn", "onnx", "onnxscript", "onnxslim", "nncf", "safetensors", "matplotlib", "openpyxl"),
        "train",
    ),
    "threadpoolctl": "train",
    "openvino": "openvino",
    "tritonclient": "triton",
    "tensorrt": "tensorrt",
    "cv2": "opencv",
}


def missing_extra_line(error: ModuleNotFoundError) -> "str | None":
    """One line naming the extra to install for a module only an extra brings, else None (a bug)."""
    module = (error.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(module)
    if extra is None:
        return None
    what = "the training stack" if extra == "train" else f"the {extra} extra"
    return f"this command needs {what}, which is not installed (no module {module!r}): pip install 'mpt-edge[{extra}]'"


def describe(error: BaseException) -> "str | None":
    """One line for an error a user can fix, or None for a bug (which keeps its traceback).

    Ours say what to do; the operating system's (full disk, read-only, name too long, ...) name the
    path and the fix; a damaged tar or JSON file says so. Wrapped errors (a library that raised its
    own exception from an OSError) are described by their cause."""
    import json
    import tarfile

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MptEdgeError):
            return str(current)
        if isinstance(current, ModuleNotFoundError) and (line := missing_extra_line(current)):
            return line
        if isinstance(current, OSError) and current.errno is not None:
            return _os_line(current)
        if isinstance(current, tarfile.TarError):
            return (
                f"the tar archive is damaged or truncated ({current}); copy it again or rebuild "
                "it with `mpt-edge build --tar`"
            )
        if isinstance(current, json.JSONDecodeError):
            return f"a JSON file is damaged or truncated ({current}); delete it, or rerun the command that wrote it"
        current = current.__cause__ or current.__context__
    return None
