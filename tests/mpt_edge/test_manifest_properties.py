"""Property-based tests (Hypothesis) of the manifest loader and the tar extractor on generated malformed
input: whatever the bytes, the answer is a verified bundle or one InputError — never another exception,
never a file written outside the destination, never a role that resolves outside the bundle."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

from helpers.tiny_bundle import tiny_manifest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpt_edge.bundle import load_bundle, unpack_bundle
from mpt_edge.errors import InputError
from mpt_edge.manifest import MANIFEST, parse_manifest

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
names = st.sampled_from(
    [
        "model.onnx",
        "../x.onnx",
        "/etc/passwd",
        "a/../../b",
        "./model.onnx",
        "",
        "sub/m.onnx",
        "m\\..\\x",
        "model.xml",
        "model.bin",
        MANIFEST,
        "x\x00y",
    ]
) | st.text(max_size=12)
digests = st.sampled_from(["0" * 64, "f" * 64, "xyz", ""]) | st.integers()


@st.composite
def manifests(draw):
    """Mostly well-formed manifests with one or more fields replaced by generated values."""
    manifest = tiny_manifest(schema_version=draw(st.sampled_from([1, 1, 1, "1", 2, True, None])))
    manifest["files"] = draw(st.dictionaries(names, digests, max_size=4) | json_values)
    manifest["roles"] = draw(
        st.dictionaries(st.sampled_from(["model", "model_fp32", "engine"]), names, max_size=3) | json_values
    )
    for key in draw(st.lists(st.sampled_from(sorted(manifest)), max_size=3)):
        manifest[key] = draw(json_values)
    if draw(st.booleans()):
        manifest["backend"] = draw(st.sampled_from(["onnxruntime", "openvino", "tensorrt", "triton", "x"]))
    return manifest


@SETTINGS
@given(data=json_values | manifests())
def test_parse_manifest_accepts_only_closed_manifests(data):
    try:
        manifest = parse_manifest(data, "generated")
    except InputError as error:
        assert "\n" not in str(error) and "generated" in str(error)
        return
    assert manifest.files, "a manifest listing no file was accepted"
    for role, name in manifest.roles.items():
        assert not name.startswith("/") and ".." not in name.split("/")
        assert name in manifest.files or (manifest.backend == "tensorrt" and role == "engine")


@SETTINGS
@given(data=manifests(), write=st.booleans())
def test_load_bundle_gives_a_bundle_whose_roles_stay_inside_or_one_error(data, write):
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "bundle"
        root.mkdir()
        (Path(scratch) / "x.onnx").write_bytes(b"outside")
        (root / MANIFEST).write_text(json.dumps(data))
        if write and isinstance(data.get("files"), dict):
            for name in data["files"]:
                if (
                    isinstance(name, str)
                    and name
                    and not name.startswith("/")
                    and ".." not in name
                    and "\x00" not in name
                ):
                    try:
                        (root / name).parent.mkdir(parents=True, exist_ok=True)
                        (root / name).write_bytes(b"")
                    except OSError:
                        pass
        try:
            bundle = load_bundle(root)
        except InputError:
            return
        for role in bundle.manifest.roles:
            path = bundle.path(role).resolve()
            assert path.is_relative_to(root.resolve())


member_names = st.sampled_from(
    ["model.onnx", "../escape", "/abs", "sub/../../escape", "dir/", "a\\b", MANIFEST, "x" * 120]
) | st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=10)


@st.composite
def tars(draw):
    """A tar of generated members: a manifest (valid, broken or absent), files, links, odd names."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        kind = draw(st.sampled_from(["valid", "json", "garbage", "none"]))
        members = draw(
            st.lists(
                st.tuples(
                    member_names,
                    st.binary(max_size=64),
                    st.sampled_from(["file", "file", "symlink", "hardlink", "dir"]),
                ),
                max_size=5,
            )
        )
        if kind != "none":
            files = {n: "0" * 64 for n, _, _ in members}
            body = json.dumps(
                tiny_manifest(schema_version=1, files=files, roles={"model": draw(names)})
                if kind == "valid"
                else draw(json_values)
            ).encode()
            if kind == "garbage":
                body = draw(st.binary(max_size=40))
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
        for name, data, type_ in members:
            info = tarfile.TarInfo(name)
            if type_ == "file":
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
            elif type_ == "dir":
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.type = tarfile.SYMTYPE if type_ == "symlink" else tarfile.LNKTYPE
                info.linkname = draw(st.sampled_from(["/etc/passwd", "../x", "model.onnx"]))
                archive.addfile(info)
    raw = buffer.getvalue()
    if draw(st.booleans()):  # truncated
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


@SETTINGS
@given(raw=tars())
def test_the_tar_extractor_writes_nothing_outside_and_leaves_nothing_on_refusal(raw):
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        (base / "work").mkdir()
        archive = base / "b.tar"
        archive.write_bytes(raw)
        before = {p for p in base.rglob("*")}
        try:
            bundle = unpack_bundle(archive, base / "work" / "dest")
        except InputError as error:
            assert "\n" not in str(error)
            assert {p for p in base.rglob("*")} == before, "a refused tar left files behind"
            return
        written = {p for p in base.rglob("*")} - before
        dest = (base / "work" / "dest").resolve()
        assert all(Path(os.path.realpath(p)).is_relative_to(dest) or p == base / "work" / "dest" for p in written)
        assert bundle.files
