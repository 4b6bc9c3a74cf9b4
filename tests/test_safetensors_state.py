"""The state file is safetensors (format 3): read-only commands open it without torch, a hostile header is
refused before anything is allocated, and older files (formats 1 and 2) load and are upgraded on the next change."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import pytest
import torch
from fresh import run_fresh

from conftest import ROOT, run, run_json, saved

FORMAT1 = Path(__file__).parent / "data" / "format1"
FORMAT2 = Path(__file__).parent / "data" / "format2"


def test_the_state_file_is_safetensors_with_its_structure_in_the_metadata(state):
    run_json("inspect", "2", "3", "1", "--seed", "0", "--activation", "tanh", state=state)
    run_json("train-step", "--x", "1,2", "--t", "1", "--optimizer", "adam", "--lr", "0.01", state=state)
    from safetensors import safe_open

    with safe_open(str(state), framework="pt") as handle:
        meta = json.loads(handle.metadata()["linctl"])
        names = set(handle.keys())
    assert meta["format"] == 3 and meta["sizes" if "sizes" in meta else "layers"]
    assert {"params/0.weight", "params/2.bias", "grads/0.weight", "last_x", "last_t"} <= names
    assert "optimizer/state/state/0/exp_avg" in names
    data = saved(state)
    assert data["format"] == 3 and data["optimizer"]["name"] == "adam"
    assert set(data["optimizer"]["state"]["state"]) == {0, 1, 2, 3}
    assert data["optimizer"]["state"]["param_groups"][0]["betas"] == (0.9, 0.999)
    with open(state, "rb") as handle:
        assert handle.read(4) != b"PK\x03\x04"  # no zip, no pickle


# --------------------------------------------------------------------------
# hostile headers


def _file(path: Path, header: dict | bytes, data: bytes = b"", length: int | None = None) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw) if length is None else length) + raw + data)
    return path


def _good_header(n: int = 6) -> dict:
    meta = {
        "app": "linctl",
        "format": 3,
        "dtype": "float32",
        "layers": [{"type": "linear", "in_features": 2, "out_features": 1, "bias": True, "activation": "none"}],
        "params": {"weight": {"tensor": "params/weight"}, "bias": {"tensor": "params/bias"}},
        "grads": {"weight": None, "bias": None},
        "optimizer": {"name": None, "settings": {}, "state": None},
        "step": 0,
        "seed": None,
        "last_x": None,
        "last_t": None,
    }
    return {
        "__metadata__": {"linctl": json.dumps(meta)},
        "params/weight": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8]},
        "params/bias": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
    }


def test_a_crafted_good_file_loads(tmp_path):
    path = _file(tmp_path / "net.safetensors", _good_header(), struct.pack("<3f", 1.0, 2.0, 3.0))
    out = run_json("inspect", state=path)
    assert out["weight"] == [[1.0, 2.0]] and out["bias"] == [3.0]


def _refused(path: Path, *words: str) -> None:
    before = path.read_bytes()
    result = run("inspect", state=path)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, result.stderr
    assert path.read_bytes() == before


HUGE = 2**40


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"params/weight": {"dtype": "F32", "shape": [2**20, 2**20], "data_offsets": [0, 4 * 2**40]}}, ["claims"]),
        ({"params/weight": {"dtype": "I64", "shape": [1, 2], "data_offsets": [0, 16]}}, ["dtype"]),
        ({"params/weight": {"dtype": "F32", "shape": [1, 2], "data_offsets": [4, 12]}}, ["overlapping"]),
        ({"params/bias": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, ["overlapping"]),
        ({"params/weight": {"dtype": "F32", "shape": [1, -2], "data_offsets": [0, 8]}}, ["shape"]),
        ({"params/weight": {"dtype": "F32", "shape": [1, 2], "data_offsets": [0, 8], "x": 1}}, ["dtype, shape"]),
        ({"__metadata__": {"linctl": "{"}}, ["metadata"]),
        ({"__metadata__": {"linctl": 3}}, ["__metadata__"]),
        ({"__metadata__": {"other": "{}"}}, ["metadata"]),
    ],
)
def test_hostile_headers_are_refused_before_anything_is_allocated(tmp_path, change, words):
    header = {**_good_header(), **change}
    _refused(_file(tmp_path / "net.safetensors", header, struct.pack("<3f", 1.0, 2.0, 3.0)), *words)


def test_a_header_length_beyond_the_file_or_absurd_is_refused(tmp_path):
    _refused(_file(tmp_path / "a.safetensors", _good_header(), b"\0" * 12, length=HUGE), "header claims")
    _refused(_file(tmp_path / "b.safetensors", b"{}" + b" " * 10, b"\0" * 4, length=12), "tensors fill")
    _refused(_file(tmp_path / "c.safetensors", b"not json", b""), "not JSON")
    (tmp_path / "d.safetensors").write_bytes(b"\x01\x02")
    _refused(tmp_path / "d.safetensors", "shorter")


def test_a_tensor_whose_bytes_are_missing_is_refused(tmp_path):
    _refused(_file(tmp_path / "net.safetensors", _good_header(), struct.pack("<2f", 1.0, 2.0)), "holds")


def test_metadata_naming_a_tensor_the_file_lacks_is_refused(tmp_path):
    header = _good_header()
    meta = json.loads(header["__metadata__"]["linctl"])
    meta["grads"]["weight"] = {"tensor": "grads/weight"}
    header["__metadata__"]["linctl"] = json.dumps(meta)
    _refused(_file(tmp_path / "net.safetensors", header, struct.pack("<3f", 1.0, 2.0, 3.0)), "does not hold")


def test_a_wrong_shape_in_the_metadata_is_refused_by_the_field_checks(tmp_path):
    header = _good_header()
    header["params/weight"]["shape"] = [2, 1]
    _refused(_file(tmp_path / "net.safetensors", header, struct.pack("<3f", 1.0, 2.0, 3.0)), "shape")


# --------------------------------------------------------------------------
# read-only commands without torch

READ_ONLY = [["inspect"], ["inspect", "--json"], ["history"], ["history", "--json"], ["diff"], ["diff", "--json"]]


@pytest.fixture
def no_torch(tmp_path: Path) -> dict:
    stub = tmp_path / "stub" / "torch"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text("raise ImportError('torch is not importable here')\n")
    path = os.pathsep.join([str(stub.parent), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "100", "NO_COLOR": "1", "LINCTL_DEBUG": ""}


def test_read_only_commands_work_without_torch(tmp_path, no_torch):
    """In one interpreter where torch cannot be imported: the read-only commands and export work, forward does not."""
    state = tmp_path / "net.safetensors"
    run_json("inspect", "2", "3", "1", "--seed", "0", "--activation", "tanh", state=state)
    run_json("train-step", "--x", "1,2", "--t", "1", "--lr", "0.1", "--momentum", "0.9", state=state)
    run_json("train-step", "--x", "1,2", "--t", "1", state=state)
    exports = [["export", str(tmp_path / name)] for name in ("m.json", "m.safetensors")]
    commands = [*READ_ONLY, *exports, ["forward", "--x", "1,1"]]  # forward last: the others never tried torch
    outcomes = [result for result, _ in run_fresh([[*c, "--state", str(state)] for c in commands], env=no_torch)]
    assert outcomes[-1].exit_code != 0  # the stub bites
    for args, result in zip(READ_ONLY, outcomes[: len(READ_ONLY)], strict=True):
        assert result.exit_code == 0, (args, result.stderr)
        with_torch = run(*args, state=state)
        if "--json" in args:
            assert json.loads(result.stdout) == json.loads(with_torch.stdout) or args[0] == "history"
    for result in outcomes[len(READ_ONLY) : -1]:
        assert result.exit_code == 0, result.stderr
    data = saved(state)
    from safetensors.torch import load_file

    exported = load_file(tmp_path / "m.safetensors")
    assert all(torch.equal(exported[k], data["params"][k]) for k in data["params"])
    as_json = json.loads((tmp_path / "m.json").read_text())
    assert all(torch.equal(torch.tensor(as_json[k]), data["params"][k]) for k in data["params"])


# --------------------------------------------------------------------------
# older formats


def test_a_format_2_stack_loads_steps_and_is_upgraded_with_a_backup(tmp_path):
    shutil.copytree(FORMAT2, tmp_path / "f2")
    path = tmp_path / "f2" / "stack.pt"
    old = torch.load(path, weights_only=True)
    assert old["format"] == 2
    shown = run_json("inspect", state=path)
    assert torch.equal(torch.tensor(shown["layers"][0]["weight"]), old["params"]["0.weight"])
    history_before = run_json("history", state=path)
    result = run("zero-grad", state=path)
    assert result.exit_code == 0, result.stderr
    assert "stack.pt.bak" in result.stderr
    assert saved(path)["format"] == 3
    assert torch.load(Path(str(path) + ".bak"), weights_only=True)["format"] == 2
    # history across the switch: diff with the old snapshots, undo back to a format-2 snapshot
    assert len(run_json("history", state=path)["entries"]) == len(history_before["entries"]) + 1
    assert run("diff", "1", "5", state=path).exit_code == 0
    undone = run_json("undo", state=path)
    assert undone is not None
    restored = saved(path)
    assert torch.equal(restored["grads"]["0.weight"], old["grads"]["0.weight"])
    assert restored["format"] == 3


def test_the_old_default_path_is_read_then_the_new_one_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / ".linctl"
    folder.mkdir()
    shutil.copy(FORMAT1 / "adam.pt", folder / "net.pt")
    shutil.copytree(FORMAT1 / "adam.pt.history", folder / "net.pt.history")
    old_bytes = (folder / "net.pt").read_bytes()
    old = torch.load(folder / "net.pt", weights_only=True)
    shown = run_json("inspect")
    assert torch.equal(torch.tensor(shown["weight"]), old["params"]["0.weight"])
    assert not (folder / "net.safetensors").exists()
    result = run("zero-grad")
    assert result.exit_code == 0 and "net.pt" in result.stderr
    assert (folder / "net.safetensors").exists() and (folder / "net.pt").read_bytes() == old_bytes
    assert saved(folder / "net.safetensors")["format"] == 3
    back = run_json("undo")
    assert back is not None
    assert torch.equal(saved(folder / "net.safetensors")["grads"]["weight"], old["grads"]["0.weight"])


def test_the_mapped_view_of_a_state_is_its_numbers(state):
    """Replacing a network checks the old file through views of the mapped file (its numbers never read):
    those views hold exactly what the safetensors library reads, parameters, gradients and optimizer state."""
    import numpy as np

    from linctl.store import state as state_file

    assert run("inspect", "3", "4", "2", "--seed", "5", "--activation", "tanh", state=state).exit_code == 0
    assert (
        run("train-step", "--x=1,-2,0.5", "--t=0.25,-1", "--optimizer", "adam", "--lr", "0.1", state=state).exit_code
        == 0
    )
    mapped = state_file.load(state, framework="mapped")
    read = state_file.load(state, framework="numpy")

    def arrays(value, where=""):
        if isinstance(value, np.ndarray):
            yield where, value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from arrays(item, f"{where}.{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                yield from arrays(item, f"{where}[{i}]")

    left, right = dict(arrays(mapped)), dict(arrays(read))
    assert left.keys() == right.keys() and len(left) >= 10
    for where, array in left.items():
        assert array.dtype == right[where].dtype and array.shape == right[where].shape, where
        assert np.array_equal(array, right[where]), where
    # and a new network over it carries the history on
    assert run("inspect", "2", "2", state=state).exit_code == 0
    assert [e["id"] for e in run_json("history", state=state)["entries"]] == [1, 2, 3]


def test_a_state_whose_tensors_are_all_empty_is_refused_when_replaced(state):
    """Replacing a file whose tensors hold no bytes at all (a crafted file) is one line, and the file stays."""
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import save_file

    assert run("inspect", "2", "1", state=state).exit_code == 0
    with safe_open(str(state), "numpy") as handle:
        metadata, names = handle.metadata(), list(handle.keys())
    save_file({name: np.zeros((0,), np.float32) for name in names}, str(state), metadata=metadata)
    before = state.read_bytes()
    result = run("inspect", "2", "2", state=state)
    assert result.exit_code == 1
    assert result.stderr.startswith("linctl: refusing to replace it: ") and "weight has shape (0,)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert state.read_bytes() == before
