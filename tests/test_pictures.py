"""Pictures: the autograd graph, heatmaps, the update equation, the plot, loss curves, SVG/HTML export.

Numbers are compared with plain torch computed here, exactly where linctl is exact.
"""

from __future__ import annotations

import html.parser
import itertools
import re
import xml.etree.ElementTree as ET

import pytest
import torch
import torch.nn.functional as F

from conftest import ROOT, run, run_json

COLOUR = {"NO_COLOR": "", "FORCE_COLOR": "1", "TERM": "xterm-256color", "COLORTERM": "truecolor"}
ACTS = {"none": lambda z: z, "sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh}
LOSSES = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "bce": F.binary_cross_entropy,
    "diff": lambda o, t: (t - o).mean(),
}


def fmt(value: float) -> str:
    from linctl.render.cells import fmt as linctl_fmt

    return linctl_fmt(value)


def plain_walk(root):
    """Breadth first from loss.grad_fn along next_functions, each node once; inputs without grad skipped."""
    order, index, edges = [root], {root: 0}, []
    i = 0
    while i < len(order):
        for nxt, _ in order[i].next_functions:
            if nxt is None:
                continue
            if nxt not in index:
                index[nxt] = len(order)
                order.append(nxt)
            edges.append({"from": i, "to": index[nxt]})
        i += 1
    return order, edges


def build(sizes: list[int], activation: str, state, seed: int = 3):
    args = ["inspect", *map(str, sizes), "--seed", str(seed), "--activation", activation]
    assert run(*args, "--json", state=state).exit_code == 0
    torch.manual_seed(seed)
    linears = [torch.nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
    return linears


def forward(linears, x, activation):
    h = x
    for linear in linears:
        h = ACTS[activation](linear(h))
    return h


@pytest.mark.parametrize("sizes", [[2, 1], [2, 3, 3, 1]])
@pytest.mark.parametrize("activation", ["none", "sigmoid", "relu", "tanh"])
@pytest.mark.parametrize("loss", ["mse", "l1", "bce", "diff"])
def test_graph_nodes_edges_and_gradients_equal_plain_torch(state, sizes, activation, loss):
    if loss == "bce" and activation != "sigmoid":
        pytest.skip("bce takes outputs in [0, 1]")
    linears = build(sizes, activation, state)
    x = torch.tensor([[0.5, -1.0], [2.0, 0.25]])
    t = torch.tensor([[1.0], [0.0]])
    out = run_json("graph", "--x", "0.5,-1;2,0.25", "--t", "1;0", "--loss", loss, state=state)

    value = LOSSES[loss](forward(linears, x, activation), t)
    order, edges = plain_walk(value.grad_fn)
    grads: dict[int, torch.Tensor] = {}
    for i, fn in enumerate(order):
        fn.register_prehook(lambda g, i=i: grads.__setitem__(i, g[0]))
    value.backward()

    assert [n["name"] for n in out["nodes"]] == [type(fn).__name__ for fn in order]
    assert out["edges"] == edges
    names = {id(p): n for n, p in torch.nn.Sequential(*linears).named_parameters()} if len(linears) > 1 else {}
    if len(linears) > 1:  # Sequential names skip activation modules: 0, 2, 4 when each has one
        step = 2 if activation != "none" else 1
        names = {id(p): f"{k * step}.{kind}" for k, lin in enumerate(linears) for kind, p in lin.named_parameters()}
    else:
        names = {id(p): kind for kind, p in linears[0].named_parameters()}
    for node, fn in zip(out["nodes"], order, strict=True):
        assert torch.equal(torch.tensor(node["grad"], dtype=torch.float32), grads[node["id"]]), node["name"]
        assert node["shape"] == list(grads[node["id"]].shape)
        if node["name"] == "AccumulateGrad":
            assert node["param"] == names[id(fn.variable)]
            assert torch.equal(torch.tensor(node["grad"], dtype=torch.float32), fn.variable.grad)
    assert out["loss"] == pytest.approx(value.item(), rel=0, abs=0)


def test_graph_keeps_no_gradient_and_shows_saved_tensors(state):
    build([2, 1], "sigmoid", state)
    before = run_json("inspect", state=state)
    result = run("graph", "--x", "1,1", "--t", "1", "--saved", state=state)
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    for name in ("MseLossBackward0", "SigmoidBackward0", "AddmmBackward0", "TBackward0", "AccumulateGrad"):
        assert name in text
    assert "saved mat1" in text and "saved mat2" in text
    after = run_json("inspect", state=state)
    assert after["weight_grad"] is None and after["weight"] == before["weight"]
    out = run_json("graph", "--x", "1,1", "--t", "1", state=state)
    addmm = next(n for n in out["nodes"] if n["name"] == "AddmmBackward0")
    assert addmm["saved"]["mat1"] == [[1.0, 1.0]]  # x, kept for W's gradient
    assert addmm["saved"]["mat2"] is None  # Wᵀ is kept only for x's gradient, and x needs none
    linears = build([2, 3, 1], "tanh", state)
    out = run_json("graph", "--x", "1,2", "--t", "1", state=state)
    top = out["nodes"][2] if out["nodes"][1]["name"] == "TanhBackward0" else out["nodes"][1]
    assert top["name"] == "AddmmBackward0"
    hidden = torch.tanh(linears[0](torch.tensor([[1.0, 2.0]])))
    assert torch.equal(torch.tensor(top["saved"]["mat1"]), hidden.detach())  # mat1 = h, mat2 = W2ᵀ
    assert torch.equal(torch.tensor(top["saved"]["mat2"]), linears[1].weight.detach().t())


def test_graph_defaults_to_ones_and_says_so(state):
    build([3, 2], "none", state)
    result = run("graph", state=state)
    assert result.exit_code == 0
    assert "--x not given" in result.stderr and "--t not given" in result.stderr


def legend_values(text: str) -> list[tuple[str, str]]:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return re.findall(r"min (\S+) +(\S+) max", plain)


def test_heatmap_legend_has_the_matrix_min_and_max(state):
    weight = "0.1,-0.2,0.3;-0.4,0.5,-0.6"
    result = run("inspect", "3", "2", "--weight", weight, "--bias", "0.05,-0.15", state=state, env=COLOUR)
    assert result.exit_code == 0
    assert "\x1b[" in result.stdout  # coloured
    w = torch.tensor([[0.1, -0.2, 0.3], [-0.4, 0.5, -0.6]])
    b = torch.tensor([0.05, -0.15])
    legends = legend_values(result.stdout)
    assert (fmt(w.min().item()), fmt(w.max().item())) in legends
    assert (fmt(b.min().item()), fmt(b.max().item())) in legends
    assert "0.5000" in result.stdout  # the numbers stay in the cells


def test_big_matrix_is_drawn_whole_as_a_downsampled_heatmap(state):
    result = run("inspect", "300", "200", "--seed", "0", state=state, env=COLOUR)
    assert result.exit_code == 0
    torch.manual_seed(0)
    w = torch.nn.Linear(300, 200).weight.detach()
    assert "whole, as a heatmap: each square one block of 5×5 cells (its mean)" in result.stdout
    assert f"whole matrix: min {fmt(w.min().item())} max {fmt(w.max().item())}" in result.stdout
    means = w.double().reshape(40, 5, 60, 5).mean(dim=(1, 3))  # 5×5 blocks
    assert f"block means min {fmt(means.min().item())} " in re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    assert "▀" in result.stdout and "⋮" not in result.stdout
    plain = run("inspect", state=state)  # no colour: the corners, as before
    assert (
        "⋮" in plain.stdout and "▀" not in plain.stdout and "\x1b[" not in plain.stdout and " max\n" not in plain.stdout
    )


def test_block_means_equal_numpy_means():
    import numpy as np

    from linctl.render.heatmap import block_means

    a = np.arange(35, dtype=np.float64).reshape(5, 7)
    means, bh, bw = block_means(a, 3, 4)
    assert (bh, bw) == (2, 2)
    assert means[0, 0] == a[0:2, 0:2].mean() and means[2, 3] == a[4:5, 6:7].mean() and means.shape == (3, 4)


def test_step_shows_the_update_as_one_equation(state):
    build([3, 2], "none", state)
    assert run("backward", "--x", "1,1,1", "--t", "1,0", state=state).exit_code == 0
    wide = run("step", "--lr", "0.1", state=state, env={"COLUMNS": "160"})
    assert wide.exit_code == 0
    row = next(line for line in wide.stdout.splitlines() if "- 0.1 ·" in line)
    assert "=" in row  # W, lr·∇W and W′ on one line
    assert any("out[0]" in line and ("↑" in line or "↓" in line) for line in wide.stdout.splitlines())
    narrow = run("step", "--lr", "0.1", state=state, env={"COLUMNS": "50"})
    lines = narrow.stdout.splitlines()
    assert "- 0.1 ·" in lines and "=" in lines  # one under another
    adam = run("step", "--lr", "0.1", "--optimizer", "adam", state=state, env={"COLUMNS": "160"})
    assert "W + Δ = W′" in adam.stdout and "m̂" in adam.stdout


def test_plot_grid_values_equal_the_network_at_the_grid_points(state):
    linears = build([2, 3, 1], "tanh", state)
    out = run_json("plot", "--range", "-1,2,-0.5,1.5", state=state)
    points = torch.tensor(out["points"], dtype=torch.float32)
    assert points.shape == (out["columns"] * out["rows"], 2)
    assert torch.equal(torch.tensor(out["values"], dtype=torch.float32), forward(linears, points, "tanh").detach())
    xs = sorted({p[0] for p in out["points"]})
    assert xs[0] == pytest.approx(-1 + 1.5 / out["columns"]) and xs[-1] == pytest.approx(2 - 1.5 / out["columns"])


def test_plot_one_input_and_other_counts(state, tmp_path):
    linears = build([1, 4, 1], "relu", state)
    out = run_json("plot", "--range", "-3,3", state=state)
    points = torch.tensor(out["points"], dtype=torch.float32)
    assert torch.equal(torch.tensor(out["values"], dtype=torch.float32), forward(linears, points, "relu").detach())
    data = tmp_path / "d.csv"
    data.write_text("x,t\n0,1\n1,2\n")
    drawn = run("plot", "--data", str(data), state=state)
    assert drawn.exit_code == 0 and "net(x) over x" in drawn.stdout
    build([3, 1], "none", state)
    refused = run("plot", state=state)
    assert refused.exit_code == 2 and len(refused.stderr.strip().splitlines()) == 1 and "3" in refused.stderr


def test_plot_draws_the_samples_and_train_plot(state):
    build([2, 3, 1], "sigmoid", state)
    xor = str(ROOT / "examples" / "xor.csv")
    result = run(
        "train", "--data", xor, "--epochs", "5", "--lr", "0.1", "--loss", "bce", "--plot", "--log", state=state
    )
    assert result.exit_code == 0, result.stderr
    assert "output over the input plane" in result.stdout and "log scale" in result.stdout
    assert result.stdout.count("●") >= 2 and result.stdout.count("○") >= 2


def test_history_plot_draws_the_loss_of_every_change(state):
    build([2, 1], "none", state)
    for _ in range(3):
        assert run("train-step", "--x", "1,2", "--t", "1", "--lr", "0.05", state=state).exit_code == 0
    result = run("history", "--plot", "--log", state=state)
    assert result.exit_code == 0
    assert "loss of each change" in result.stdout and "log scale" in result.stdout


class _Collect(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.data: list[str] = []

    def handle_data(self, data):
        self.data.append(data)


@pytest.mark.parametrize("env", [{}, COLOUR])
def test_svg_and_html_are_well_formed_and_hold_the_numbers(state, tmp_path, env):
    svg, page = tmp_path / "v.svg", tmp_path / "v.html"
    result = run(
        "inspect",
        "3",
        "2",
        "--weight",
        "0.1,-0.2,0.3;-0.4,0.5,-0.6",
        "--svg",
        str(svg),
        "--html",
        str(page),
        state=state,
        env=env,
    )
    assert result.exit_code == 0, result.stderr
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    svg_text = "".join(root.itertext()).replace("\xa0", " ")
    parser = _Collect()
    parser.feed(page.read_text(encoding="utf-8"))
    parser.close()
    page_text = "".join(parser.data)
    for number in ("0.1000", "-0.2000", "0.5000", "-0.6000"):
        assert number in svg_text and number in page_text and number in result.stdout
    assert page_text.strip().startswith(result.stdout.strip().splitlines()[0].strip()[:20]) or "Linear" in page_text


def test_svg_into_a_missing_folder_is_a_usage_error(state, tmp_path):
    result = run("inspect", "2", "1", "--svg", str(tmp_path / "no" / "v.svg"), state=state)
    assert result.exit_code == 2 and "--svg" in result.stderr
