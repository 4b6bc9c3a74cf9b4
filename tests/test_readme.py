"""The README and every page under docs/ run as written (every `linctl ...` line in their sh blocks), the
numbers they print are plain torch's, and their links lead to files that exist."""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path

import pytest

from conftest import ROOT, run

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
# A page that goes on from the state another page left runs after it, in the same directory.
AFTER = {"pictures.md": "tour.md"}


def sh_lines(page: Path) -> list[str]:
    """The `linctl ...` lines of a page's sh blocks, in order, their comments dropped."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", page.read_text(), re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("linctl ") and "|" not in line:
                lines.append(line)
    return lines


def run_line(line: str) -> None:
    """One line as a shell would run it: `linctl ARGS`, or `linctl ARGS > FILE`."""
    command, _, target = line.partition(" > ")
    result = run(*shlex.split(command)[1:])
    assert result.exit_code == 0, (line, result.stderr)
    assert result.stdout.strip(), line
    if "--json" in command.split():
        assert isinstance(json.loads(result.stdout), dict), line  # one JSON object, nothing else on stdout
    if target:
        Path(target.strip()).write_text(result.stdout)


def chain(first: Path) -> list[Path]:
    """A page, then the pages that go on from it (and from those), in order."""
    pages = [first]
    for page in DOCS:
        if AFTER.get(page.name) == first.name:
            pages += chain(page)
    return pages


def in_fresh_directory(tmp_path: Path, monkeypatch) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)


# a page whose commands start worker processes runs in the slow set
SLOW_PAGES = {"parallel.md"}


@pytest.mark.parametrize(
    "first",
    [
        README,
        *[pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW_PAGES else p for p in DOCS if p.name not in AFTER],
    ],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_the_page_runs_as_written(first, tmp_path, monkeypatch):
    in_fresh_directory(tmp_path, monkeypatch)
    for page in chain(first):
        for line in sh_lines(page):
            run_line(line)


def test_the_pages_have_commands_to_run():
    """The parser finds the commands: a block renamed or a comment style changed would run nothing."""
    counts = {page.name: len(sh_lines(page)) for page in [README, *DOCS]}
    assert counts["README.md"] == 4
    assert counts["tour.md"] >= 20
    assert all(counts[name] >= 2 for name in ["optimizers.md", "pictures.md", "export-import.md", "scripts.md"])
    assert all(name in counts for name in AFTER.values())


def tutorial() -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The README tutorial's sh commands, and its printed part: (command, lines it prints) per `$ ` line."""
    section = README.read_text().split("## Tutorial\n", 1)[1].split("\n## ", 1)[0]
    commands = sh_lines_of(section)
    printed = re.search(r"```text\n(.*?)```", section, re.S)
    assert printed
    shown: list[tuple[str, list[str]]] = []
    for line in printed.group(1).splitlines():
        if line.startswith("$ "):
            shown.append((line[2:], []))
        else:
            shown[-1][1].append(line)
    return commands, shown


def sh_lines_of(text: str) -> list[str]:
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.startswith("linctl ")]


def four_decimals(lines: list[str]) -> list[str]:
    """The numbers shown to 4 decimals, in order; `- 0.2000` in a written-out sum is -0.2000."""
    text = re.sub(r"- (?=\d)", "-", "\n".join(lines))
    return re.findall(r"-?\d+\.\d{4}(?!\d)", text)


def test_the_readme_tutorial_prints_what_linctl_prints(tmp_path, monkeypatch):
    in_fresh_directory(tmp_path, monkeypatch)
    commands, shown = tutorial()
    assert [command for command, _ in shown] == commands
    for command, lines in shown:
        result = run(*shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.stderr)
        printed = [line.rstrip() for line in result.stdout.splitlines()]
        for line in lines:
            assert line in printed, (command, line)


def test_the_readme_tutorial_numbers_are_torchs():
    """The tutorial in plain torch: every number the README shows, in order, formatted as linctl shows it."""
    import torch

    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[0.3, -0.2]]))
        net.bias.copy_(torch.tensor([0.1]))
    w, b = net.weight.detach().clone(), net.bias.detach().clone()
    x, t = torch.ones(1, 2), torch.ones(1, 1)
    z = net(x)
    assert torch.equal(torch.mm(w, x.t()) + b.view(1, 1), z.detach().t())  # "identical, bit for bit"
    o = torch.sigmoid(z)
    loss = (t - o).mean()
    loss.backward()
    gw, gb = net.weight.grad.clone(), net.bias.grad.clone()
    torch.optim.SGD(net.parameters(), lr=0.05).step()
    w_after, b_after = net.weight.detach(), net.bias.detach()
    z0, o0 = z.detach()[0, 0], o.detach()[0, 0]
    expected = [
        *[w[0, 0], w[0, 1], b[0], z0, z0, o0],  # forward: y[0] = w·x + b = z, sigmoid(z) = o
        *[loss.detach(), gw[0, 0], gw[0, 1]],  # backward: the loss, weight.grad
        *[w[0, 0], w[0, 1], gw[0, 0], gw[0, 1], w_after[0, 0], w_after[0, 1]],  # step: W - lr·grad = W'
        *[b[0], gb[0], b_after[0]],
    ]
    _, shown = tutorial()
    assert four_decimals([line for _, lines in shown for line in lines]) == [f"{float(v):.4f}" for v in expected]


def test_the_tours_written_out_outputs_are_torchs(tmp_path, monkeypatch):
    """The written-out outputs in the tour equal plain torch's, and linctl prints those very lines."""
    import torch

    text = (ROOT / "docs" / "tour.md").read_text()
    printed = re.findall(r"^(y\[(\d)\] = (.+) = (-?[0-9.]+))$", text, re.M)
    assert len(printed) == 2
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 2)
    x = torch.ones(1, 3)
    y = net(x).detach()[0]
    monkeypatch.chdir(tmp_path)
    assert run("inspect", "3", "2", "--seed", "0").exit_code == 0
    shown = run("forward", "--x", "1,1,1").stdout
    for line, j, terms, value in printed:
        j = int(j)
        assert value == f"{float(y[j]):.4f}"
        numbers = four_decimals([terms])  # the weights, then the bias (the inputs are 1.0)
        assert len(numbers) == 4
        assert numbers[:3] == [f"{float(v):.4f}" for v in net.weight[j].detach()]
        assert numbers[-1] == f"{float(net.bias[j].detach()):.4f}"
        assert line in shown


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def links(page: Path) -> list[str]:
    return [target for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()) if "://" not in target]


@pytest.mark.parametrize("page", [README, *DOCS, ROOT / "bench" / "README.md"], ids=lambda p: str(p.relative_to(ROOT)))
def test_the_links_lead_to_files_that_exist(page):
    for target in links(page):
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.is_file(), (page.name, target)
        if anchor:
            headings = re.findall(r"^#+ (.+)$", linked.read_text(), re.M)
            assert anchor in [slug(h) for h in headings], (page.name, target)


def test_the_readme_links_every_docs_page_and_stays_a_door():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in links(README)}
    assert set(DOCS) <= linked
    assert ROOT / "bench" / "README.md" in linked
    assert len(README.read_bytes()) <= 8 * 1024, "the README is the front door: move details to docs/"


def test_the_tours_lists_of_losses_and_activations_are_the_registrys():
    """The one written-out list of names (adding an entry to the registry fails here until it is listed)."""
    from linctl.model.registry import ACTIVATIONS, LOSSES

    text = " ".join((ROOT / "docs" / "tour.md").read_text(encoding="utf-8").split())
    assert f"`--loss {'|'.join(LOSSES)}`" in text
    assert f"`--activation {'|'.join(ACTIVATIONS)}`" in text
