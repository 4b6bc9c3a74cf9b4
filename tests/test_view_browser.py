"""linctl view in a real headless Chromium (the system's, through its chromedriver): what the page
shows is checked against the state file, read with safetensors into torch tensors.

Without Chromium these tests skip, except under CI (the variable CI set), where they fail.
"""

from __future__ import annotations

import os
import shutil

import pytest
import torch
from view_support import Served, tensors, wait_for

from conftest import run_process
from linctl.model.registry import ACTIVATIONS

# real servers (and a real browser) per module: in the slow set, which CI runs too
pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


def need(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"{why}; CI must run the browser tests (.ci/run installs chromium and chromium-driver)")
        pytest.skip(why)


@pytest.fixture(scope="module")
def browser():
    need(CHROMIUM is not None and DRIVER is not None, "no chromium and chromedriver on this machine")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        need(False, "selenium is not installed (the test extra)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1400"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    folder = tmp_path_factory.mktemp("view")
    path = folder / "net.safetensors"
    for args in (
        ("inspect", "2", "3", "1", "--seed", "2", "--activation", "tanh", "--activation", "sigmoid"),
        ("train", "--x", "0,0;0,1;1,0;1,1", "--t", "0;1;1;0", "--steps", "20", "--lr", "0.1", "--optimizer", "adam"),
    ):
        result = run_process(*args, state=path)
        assert result.exit_code == 0, result.stderr
    return path


@pytest.fixture(scope="module")
def page(browser, net):
    server = Served(net)
    browser.get(server.url)
    assert wait_for(lambda: browser.execute_script("return document.body.dataset.head"))
    yield server
    terminal = server.stop()  # with the page still open on its event stream
    assert "Traceback" not in terminal and "Error" not in terminal, terminal
    assert server.proc.returncode == 0


def body(browser, key: str):
    return browser.execute_script(f"return document.body.dataset.{key}")


def hovered(browser, css: str) -> tuple[str, str]:
    """Move the mouse onto the element (a quarter of the way along an edge, clear of crossings) and read the hover box's first line."""
    from selenium.webdriver.common.action_chains import ActionChains

    element = browser.find_element("css selector", css)
    x1, y1, x2, y2 = (float(element.get_attribute(a) or 0) for a in ("x1", "y1", "x2", "y2"))
    ActionChains(browser).move_to_element_with_offset(element, int(-(x2 - x1) / 4), int(-(y2 - y1) / 4)).perform()
    name = browser.find_element("css selector", "#hover .line .name").text
    value = browser.find_element("css selector", "#hover .line .value").text
    return name, value


def shown_weight(browser, name: str, k: int, j: int) -> torch.Tensor:
    label, text = hovered(browser, f"line.edge-hit[data-name='{name}'][data-index='{k},{j}']")
    assert label == f"{name}[{k},{j}]"
    return torch.tensor(float(text), dtype=torch.float32)


def test_a_2_3_1_stack_has_6_nodes_and_9_edges(browser, page):
    assert len(browser.find_elements("css selector", "#network .node")) == 6
    assert len(browser.find_elements("css selector", "#network .node.input")) == 2
    assert len(browser.find_elements("css selector", "#network line.edge")) == 2 * 3 + 3 * 1
    assert len(browser.find_elements("css selector", "#network .node canvas")) == 6  # each neuron's output drawn


def test_hover_shows_each_weight_as_the_state_file_holds_it(browser, page, net):
    stored = tensors(net)
    for name, k, j in (("0.weight", 0, 0), ("0.weight", 2, 1), ("2.weight", 0, 1)):
        assert torch.equal(shown_weight(browser, name, k, j), stored[f"params/{name}"][k, j])


def page_forward(browser, network: dict, x: list[float]) -> torch.Tensor:
    """The page's own forward pass (the one its neuron pictures and decision surface are drawn with)."""
    return torch.tensor(
        browser.execute_script("return linctlView.forward(arguments[0], arguments[1])", network, x)[-1],
        dtype=torch.float64,
    )


def test_the_pages_forward_pass_is_torchs_on_the_state_files_network(browser, page, net):
    """The page computes in doubles from the numbers it was sent (each float32 as its shortest decimal):
    torch in float64 on those numbers gives the same outputs, and they are the state file's float32 values."""
    stored = tensors(net)
    network = browser.execute_script("return linctlView.network()")
    sent = {name: torch.tensor(record["values"], dtype=torch.float64) for name, record in network["params"].items()}
    model = torch.nn.Sequential(
        torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1), torch.nn.Sigmoid()
    ).double()
    model.load_state_dict(sent)
    for name, value in sent.items():
        assert torch.equal(value.float(), stored[f"params/{name}"])
    for x in ([0.0, 0.0], [1.0, -0.5], [-2.25, 3.0]):
        with torch.no_grad():
            expected = model(torch.tensor([x], dtype=torch.float64))[0]
        assert torch.allclose(page_forward(browser, network, x), expected, rtol=0, atol=1e-12)


ZS = [[-30.0, -21.0, -3.5, -1.0], [-0.25, 0.0, 0.5, 2.0], [19.5, 20.5, 25.0, 40.0]]


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_activation_in_the_registry_is_drawn_as_torch_computes_it(browser, page, name):
    """The page takes each activation's function from the registry; through a 4-4 identity layer it gives torch's h."""
    network = {
        "layers": [{"in_features": 4, "out_features": 4, "activation": name, "weight": "w", "bias": None}],
        "params": {"w": {"shape": [4, 4], "values": torch.eye(4).tolist()}},
    }
    tolerance = 5e-7 if name == "gelu" else 1e-12  # gelu: the page's erf (Math has none) is within 1.5e-7
    for z in ZS:
        expected = ACTIVATIONS[name].forward(torch.tensor([z], dtype=torch.float64))[0]
        assert torch.allclose(page_forward(browser, network, z), expected, rtol=0, atol=tolerance), (name, z)


def test_a_train_step_in_a_subprocess_reaches_the_open_page(browser, page, net):
    head = int(body(browser, "head"))
    result = run_process("train-step", "--x", "1,0", "--t", "1", state=net)
    assert result.exit_code == 0, result.stderr
    assert wait_for(lambda: body(browser, "head") == str(head + 1), timeout=1.0)
    assert torch.equal(shown_weight(browser, "0.weight", 1, 0), tensors(net)["params/0.weight"][1, 0])


def test_the_step_button_changes_the_state_file_as_train_step_does(browser, page, net, tmp_path):
    twin = tmp_path / "twin.safetensors"
    shutil.copy(net, twin)
    shutil.copytree(net.parent / "net.safetensors.history", tmp_path / "twin.safetensors.history")
    head, runs = int(body(browser, "head")), int(body(browser, "runs") or 0)
    browser.find_element("id", "train-step").click()
    assert wait_for(lambda: body(browser, "runs") == str(runs + 1), timeout=120)
    assert wait_for(lambda: body(browser, "head") == str(head + 1), timeout=5)
    result = run_process("train-step", "--json", state=twin)
    assert result.exit_code == 0, result.stderr
    clicked, typed = tensors(net), tensors(twin)
    assert clicked.keys() == typed.keys()
    for key in clicked:
        assert torch.equal(clicked[key], typed[key]), key
    assert "loss" in browser.find_element("id", "runlog").text


def test_the_timeline_shows_a_past_snapshot(browser, page, net):
    from selenium.webdriver.common.keys import Keys

    browser.find_element("id", "timeline").send_keys(Keys.HOME)
    assert wait_for(lambda: body(browser, "shown") == "1")
    first = tensors(net.parent / "net.safetensors.history" / "1.safetensors")["params/0.weight"][0, 1]
    past = shown_weight(browser, "0.weight", 0, 1)
    assert torch.equal(past, first)
    assert not torch.equal(past, tensors(net)["params/0.weight"][0, 1])
    browser.find_element("id", "live").click()
    assert wait_for(lambda: body(browser, "shown") == body(browser, "head"))


def test_a_missing_state_shows_the_terminal_line_in_the_page(browser, tmp_path):
    missing = tmp_path / "none.safetensors"
    server = Served(missing)
    try:
        browser.get(server.url)
        shown = wait_for(lambda: browser.find_element("id", "error").text)
        assert shown == f"linctl: no network at {missing}; create one with 'linctl inspect IN OUT' or pass --state"
        assert wait_for(lambda: shown in server.stderr().splitlines())
        assert run_process("inspect", "2", "1", "--seed", "0", state=missing).exit_code == 0
        assert wait_for(lambda: not browser.find_element("id", "error").is_displayed())
        assert len(browser.find_elements("css selector", "#network line.edge")) == 2
    finally:
        server.stop()


def test_the_export_works_from_a_file_url(browser, net, tmp_path):
    out = tmp_path / "page"
    result = run_process("view", "--export", str(out), state=net)
    assert result.exit_code == 0, result.stderr
    browser.get((out / "index.html").as_uri())
    assert wait_for(lambda: body(browser, "head"))
    assert len(browser.find_elements("css selector", "#network .node")) == 6
    assert not browser.find_element("id", "train-step").is_displayed()
    assert torch.equal(shown_weight(browser, "2.weight", 0, 2), tensors(net)["params/2.weight"][0, 2])


def test_the_last_change_is_checked_by_hand_only_when_it_was_one_plain_sgd_step(browser, tmp_path):
    net = tmp_path / "sgd.safetensors"
    for args in (("inspect", "2", "3", "1", "--seed", "4"), ("train-step", "--x", "1,-2", "--t", "0.5", "--lr", "0.3")):
        assert run_process(*args, state=net).exit_code == 0
    before = tensors(tmp_path / "sgd.safetensors.history" / "1.safetensors")
    now = tensors(net)
    by_torch = before["params/0.weight"].clone().add_(now["grads/0.weight"], alpha=-0.3)  # SGD's own update
    assert torch.equal(by_torch, now["params/0.weight"])
    out = tmp_path / "page"
    assert run_process("view", "--export", str(out), state=net).exit_code == 0
    browser.get((out / "index.html").as_uri())
    assert wait_for(lambda: body(browser, "head"))
    text = browser.find_element("id", "equation").text
    assert "one optimizer step" in text
    hand = text.split("W − lr·∇W = ")[1].splitlines()[0]
    written, result = hand.split(" = ")[0], hand.split(" = ")[1].split("  ")[0]
    w, lr_g = written.split(" − ")
    lr, g = lr_g.split("·")
    as_float32 = lambda text: torch.tensor(float(text), dtype=torch.float32)  # noqa: E731
    assert torch.equal(as_float32(w), before["params/0.weight"][0, 0]) and lr == "0.3"
    assert torch.equal(as_float32(g), now["grads/0.weight"][0, 0])
    assert torch.equal(as_float32(result), by_torch[0, 0])
    assert hand.endswith("(the state file's, exactly)")
    assert run_process("train", "--x", "1,-2", "--t", "0.5", "--steps", "5", "-q", state=net).exit_code == 0
    assert run_process("view", "--export", str(out), state=net).exit_code == 0
    browser.get((out / "index.html").as_uri())
    assert wait_for(lambda: body(browser, "head") == "3")
    text = browser.find_element("id", "equation").text
    assert "5 optimizer steps" in text and "by hand" not in text


def dot_hovered(browser, css: str) -> list[tuple[str, str]]:
    """Move the mouse onto a dot of the loss panel and read every line of the hover box."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).move_to_element(browser.find_element("css selector", css)).perform()
    lines = browser.find_elements("css selector", "#hover .line")
    return [tuple(line.find_element("css selector", part).text for part in (".name", ".value")) for line in lines]


def test_the_loss_panel_shows_the_held_out_loss_and_accuracy_torch_computes(browser, tmp_path):
    import csv
    from pathlib import Path

    net = tmp_path / "blobs.safetensors"
    data, val = (Path(__file__).parents[1] / "examples" / name for name in ("blobs.csv", "blobs-test.csv"))
    settings = ("--loss", "cross_entropy", "--lr", "0.1", "--seed", "0", "-q")
    for args in (
        ("inspect", "2", "8", "3", "--seed", "0", "--activation", "tanh", "--activation", "none"),
        ("train", "--data", str(data), "--val", str(val), *settings),
    ):
        result = run_process(*args, state=net)
        assert result.exit_code == 0, result.stderr
    rows = list(csv.reader(val.open()))[1:]
    labels = sorted({row[2] for row in rows})
    x = torch.tensor([[float(row[0]), float(row[1])] for row in rows])
    t = torch.tensor([labels.index(row[2]) for row in rows])
    stored = tensors(net)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    model.load_state_dict({name: stored[f"params/{name}"] for name in ("0.weight", "0.bias", "2.weight", "2.bias")})
    with torch.no_grad():
        logits = model(x)
    held_loss = torch.nn.functional.cross_entropy(logits, t)
    held_accuracy = (logits.argmax(dim=1) == t).sum().item() / len(rows)
    out = tmp_path / "page"
    assert run_process("view", "--export", str(out), state=net).exit_code == 0
    browser.get((out / "index.html").as_uri())
    assert wait_for(lambda: body(browser, "head") == "2")
    assert len(browser.find_elements("css selector", "#loss .loss-point")) == 1  # inspect records no loss
    assert len(browser.find_elements("css selector", "#loss .val-loss-point")) == 1
    assert "held-out loss" in browser.find_element("id", "loss-note").text
    loss_lines = dot_hovered(browser, "#loss .val-loss-point")
    assert loss_lines[1][0] == "held-out loss"
    assert torch.equal(torch.tensor(float(loss_lines[1][1]), dtype=torch.float32), held_loss)
    metric_lines = dot_hovered(browser, "#loss .metric-point")
    assert metric_lines[0][0] == "accuracy" and metric_lines[1][0] == "held-out accuracy"
    assert float(metric_lines[1][1]) == held_accuracy
    assert "blue: accuracy" in browser.find_element("id", "loss-note").text
