"""linctl view over plain HTTP: the guard (token, Host, Origin), its own files only, live data from the
state file through replacement, deletion and recreation, the step route, a port in use, --export."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from view_support import Served, tensors, wait_for

from conftest import run_process

# real servers (and a real browser) per module: in the slow set, which CI runs too
pytestmark = pytest.mark.slow

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("watchfiles")


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "net.safetensors"
    result = run_process(
        "inspect", "2", "3", "1", "--seed", "0", "--activation", "tanh", "--activation", "sigmoid", state=path
    )
    assert result.exit_code == 0, result.stderr
    return path


@pytest.fixture
def served(net):
    server = Served(net)
    yield server
    server.stop()


def test_listens_on_loopback_only_with_a_random_token(served):
    assert served.host == "127.0.0.1"
    assert len(served.token) >= 24
    served_path = Path(served.info["state"])
    other = Served(served_path)
    try:
        assert other.token != served.token and other.port != served.port
    finally:
        other.stop()
    assert served_path.exists()


@pytest.mark.parametrize("path", ["/", "/api/state", "/api/events", "/static/view.js", "/api/snapshot/1"])
def test_no_token_or_a_wrong_one_is_refused(served, path):
    assert served.request("GET", path)[0] == 403
    wrong = served.token[:-1] + ("y" if served.token.endswith("x") else "x")  # one character off, never the token
    assert served.request("GET", path + "?token=" + wrong)[0] == 403


def test_a_foreign_host_header_is_refused(served):
    """DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends its own name as Host."""
    good = f"/api/state?token={served.token}"
    assert served.request("GET", good)[0] == 200
    for host in (
        f"evil.example:{served.port}",
        "evil.example",
        f"127.0.0.1:{served.port + 1}",
        f"localhost.evil:{served.port}",
    ):
        status, text = served.request("GET", good, {"Host": host})
        assert status == 403, host
        assert "Host" in text
    assert served.request("GET", good, {"Host": f"localhost:{served.port}"})[0] == 200


def test_a_cross_site_origin_is_refused_also_for_the_step_route(served, net):
    assert run_process("train-step", "--lr", "0.1", state=net).exit_code == 0  # an lr stored for the button
    before = net.read_bytes()
    body = json.dumps({"command": "train-step"})
    route = f"/api/run?token={served.token}"
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{served.port + 1}"):
        status, text = served.request("POST", route, {"Origin": origin, "Content-Type": "application/json"}, body)
        assert status == 403 and "Origin" in text
    assert served.request("POST", "/api/run", {"Content-Type": "application/json"}, body)[0] == 403
    assert net.read_bytes() == before  # nothing was run
    same = {"Origin": f"http://127.0.0.1:{served.port}", "Content-Type": "application/json"}
    status, text = served.request("POST", route, same, body)
    assert status == 200 and json.loads(text)["exit_code"] == 0
    assert net.read_bytes() != before


def test_only_its_own_files_are_served(served):
    for name in ("../server.py", "..%2Fserver.py", "index.html", "%2Fetc%2Fpasswd", "view.py"):
        assert served.request("GET", f"/static/{name}?token={served.token}")[0] == 404, name
    status, text = served.request("GET", f"/static/view.js?token={served.token}")
    assert status == 200 and "EventSource" in text


def test_the_page_loads_each_script_it_names_in_order(served):
    import re

    status, page = served.request("GET", f"/?token={served.token}")
    names = re.findall(r'<script src="static/([\w.]+)\?token=', page)
    assert status == 200 and names == ["values.js", "panels.js", "view.js"]  # each part uses the ones before it
    for name in names:
        status, text = served.request("GET", f"/static/{name}?token={served.token}")
        assert status == 200 and text.startswith(f"// linctl view, part {names.index(name) + 1} of 3"), name


def test_the_page_data_is_the_state_file(served, net):
    data = served.state()
    stored = tensors(net)
    assert data["error"] is None
    assert [layer["weight"] for layer in data["network"]["layers"]] == ["0.weight", "2.weight"]
    for name in ("0.weight", "0.bias", "2.weight", "2.bias"):
        shown = torch.tensor(data["network"]["params"][name]["values"], dtype=torch.float32)
        assert torch.equal(shown, stored[f"params/{name}"])


def test_a_bad_step_request_is_refused_with_a_reason(served):
    route = f"/api/run?token={served.token}"
    for body in ('{"command": "rm"}', '{"command": "train", "steps": 0}', '{"command": "train", "steps": "5"}', "{"):
        status, text = served.request("POST", route, {"Content-Type": "application/json"}, body)
        assert status == 400 and json.loads(text)["error"].startswith("bad request"), body


def test_survives_the_state_file_replaced_deleted_broken_and_recreated(served, net):
    first = served.state()["head"]
    assert run_process("train-step", "--lr", "0.1", state=net).exit_code == 0
    assert wait_for(lambda: served.state()["head"] != first)
    net.unlink()
    missing = wait_for(lambda: served.state()["error"])
    assert missing == f"linctl: no network at {net}; create one with 'linctl inspect IN OUT' or pass --state"
    net.write_bytes(b"not a state file")
    broken = wait_for(lambda: (served.state()["error"] or "").startswith("linctl: cannot read"))
    assert broken
    net.unlink()
    assert run_process("inspect", "2", "2", "--seed", "1", state=net).exit_code == 0
    assert wait_for(lambda: served.state()["error"] is None)
    assert served.state()["network"]["layers"][0]["out_features"] == 2
    terminal = served.stderr().splitlines()
    assert missing in terminal  # the same one line in the terminal as in the page
    assert any(line.startswith("linctl: cannot read") for line in terminal)
    assert not any("Traceback" in line or "internal error" in line for line in terminal)


def test_a_port_in_use_is_one_line_and_exit_1(tmp_path, net):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_process("view", "--port", str(port), state=net, timeout=60)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"linctl: --port {port}: 127.0.0.1:{port} is already in use; pass another --port, or leave it out for a free one"
    ]


def test_a_bad_port_is_usage(net):
    result = run_process("view", "--port", "http", state=net)
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1 and "--port" in result.stderr


def test_export_bakes_the_network_and_its_snapshots(tmp_path, net):
    assert run_process("train-step", "--lr", "0.1", state=net).exit_code == 0
    out = tmp_path / "page"
    result = run_process("view", "--export", str(out), "--json", state=net)
    assert result.exit_code == 0, result.stderr
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "data.js",
        "index.html",
        "static",
        "static/panels.js",
        "static/values.js",
        "static/view.css",
        "static/view.js",
    ]
    text = (out / "data.js").read_text()
    data = json.loads(text.removeprefix("window.LINCTL_DATA = ").rstrip().removesuffix(";"))
    stored = tensors(net)
    shown = torch.tensor(data["network"]["params"]["0.weight"]["values"], dtype=torch.float32)
    assert torch.equal(shown, stored["params/0.weight"])
    first = tensors(net.parent / "net.safetensors.history" / "1.safetensors")
    past = torch.tensor(data["snapshots"]["1"]["network"]["params"]["0.weight"]["values"], dtype=torch.float32)
    assert torch.equal(past, first["params/0.weight"]) and not torch.equal(past, shown)
    assert "token" not in (out / "index.html").read_text()


def test_export_of_a_missing_state_is_one_line(tmp_path):
    missing = tmp_path / "none.safetensors"
    result = run_process("view", "--export", str(tmp_path / "page"), state=missing)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"linctl: no network at {missing}; create one with 'linctl inspect IN OUT' or pass --state"
    ]


def test_help_pays_for_no_web_stack():
    script = """
import sys
from linctl.app import app
for args in (["--help"], ["view", "--help"]):
    try:
        app(args)
    except SystemExit:
        pass
print("LOADED:" + ",".join(m for m in ("starlette", "uvicorn", "watchfiles", "torch") if m in sys.modules))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "LOADED:"


def test_the_host_check_takes_addresses_and_localhost_only():
    from linctl.view.server import Viewer

    loopback = Viewer(path=Path("net.safetensors"), port=8765)
    assert loopback.host_allowed("127.0.0.1:8765") and loopback.host_allowed("localhost:8765")
    assert loopback.host_allowed("[::1]:8765")
    for host in ("127.0.0.1:8766", "evil.example:8765", "10.0.0.5:8765", "127.0.0.1", ""):
        assert not loopback.host_allowed(host), host
    everywhere = Viewer(path=Path("net.safetensors"), host="0.0.0.0", port=8765)
    assert everywhere.host_allowed("10.0.0.5:8765")  # --host: reached by address from elsewhere
    assert not everywhere.host_allowed("evil.example:8765")  # still never by a name DNS could point here


def test_a_big_matrix_travels_as_block_means():
    from linctl.view.pagedata import HEAT_BLOCKS, tensor_record

    weight = torch.randn(256, 784, generator=torch.Generator().manual_seed(0))
    record = tensor_record(weight.numpy())
    side = record["block"][0]
    assert side == -(-784 // HEAT_BLOCKS)  # square blocks, at most HEAT_BLOCKS across
    assert "values" not in record
    padded = torch.nn.functional.pad(weight.double(), (0, -784 % side, 0, -256 % side))
    sums = padded.reshape(padded.shape[0] // side, side, padded.shape[1] // side, side).sum(dim=(1, 3))
    counts = torch.ones_like(weight, dtype=torch.float64)
    counts = torch.nn.functional.pad(counts, (0, -784 % side, 0, -256 % side))
    counts = counts.reshape(sums.shape[0], side, sums.shape[1], side).sum(dim=(1, 3))
    assert torch.allclose(torch.tensor(record["blocks"], dtype=torch.float64), sums / counts, rtol=1e-6, atol=1e-7)
    assert torch.equal(torch.from_numpy(record["corner"]), weight[:16, :16])
    assert record["min"] == weight.min().item() and record["max"] == weight.max().item()


def test_the_last_change_counts_the_optimizer_steps_it_spans(net):
    from linctl.view.pagedata import page_data

    def change(*args):
        result = run_process(*args, state=net)
        assert result.exit_code == 0, result.stderr
        return page_data(net)["change"]

    stepped = change("train-step", "--x", "1,0", "--t", "1", "--lr", "0.1")
    before = tensors(net.parent / "net.safetensors.history" / "1.safetensors")["params/0.weight"]
    assert stepped["steps"] == 1
    assert torch.equal(torch.tensor(stepped["before"]["0.weight"]["values"], dtype=torch.float32), before)
    assert change("train", "--x", "1,0;0,1", "--t", "1;0", "--steps", "7", "-q")["steps"] == 7
    assert change("set", "0.weight[0,0]=0.5")["steps"] == 0
    assert change("backward", "--x", "1,0", "--t", "1")["steps"] == 0
