"""The state file's fields are declared once (store/schema.py): a new state has exactly them, each has its check,
and a file with a field linctl never writes is refused with one line and left as it is."""

from __future__ import annotations

import json

from safetensors import safe_open
from safetensors.numpy import save_file

from conftest import run
from linctl.store import checks, schema


def test_a_new_state_has_every_field_and_each_field_its_check(tmp_path):
    from linctl.model.network import new_state
    from linctl.model.spec import LayerSpec

    data = new_state([LayerSpec(2, 1)], seed=0)
    assert list(data) == list(schema.NAMES)
    assert list(checks.CHECKS) == list(schema.NAMES)


def test_a_state_with_an_unknown_field_is_refused_naming_it(tmp_path):
    state = tmp_path / "net.safetensors"
    assert run("inspect", "2", "1", "--seed", "0", state=state).exit_code == 0
    with safe_open(str(state), framework="numpy") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118 - a safetensors handle, not a dict
        metadata = handle.metadata()
    key = next(k for k in metadata if json.loads(metadata[k]).get("app") == "linctl")
    structure = json.loads(metadata[key])
    structure["extra"] = 1
    save_file(tensors, str(state), metadata={**metadata, key: json.dumps(structure)})
    before = state.read_bytes()
    for args in (("inspect",), ("forward", "--x", "1,1"), ("train-step", "--x", "1,1", "--t", "1", "--lr", "0.1")):
        result = run(*args, state=state)
        assert result.exit_code == 1, args
        (line,) = result.stderr.strip().splitlines()
        assert "it has a field 'extra' linctl never writes" in line and str(state) in line
        assert state.read_bytes() == before


def test_a_field_added_in_a_later_format_is_filled_into_older_files(monkeypatch):
    added = schema.Field("labels", "class names", "a list", since=4, new=lambda: [])
    monkeypatch.setattr(schema, "FIELDS", (*schema.FIELDS, added))
    old = {"app": "linctl", "format": 3, "step": 5}
    filled = schema.filled(dict(old), 3)
    assert filled == {**old, "labels": []}
    assert schema.filled({"labels": ["a"]}, 3) == {"labels": ["a"]}  # what a file has is kept
    assert schema.filled({}, 4) == {}
