"""Property-based tests: random text and random shapes never crash linctl or damage its state.

Also: a state file crafted to run code when unpickled is refused without running anything.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from conftest import run, saved

# --------------------------------------------------------------------------
# helpers


def snapshot_files(folder: Path) -> dict[str, bytes]:
    """Every file under folder (state, history, backups) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def check_outcome(result, folder: Path, before: dict[str, bytes], as_json: bool) -> None:
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    if result.exit_code == 0:
        if as_json:
            assert isinstance(json.loads(result.stdout), dict)
        return
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if not line.startswith("warning:")]
    assert len(errors) == 1, result.stderr  # one line says what went wrong (warnings may come before it)
    assert "internal error" not in errors[0], errors[0]
    after = snapshot_files(folder)
    after.pop("net.pt.lock", None)
    before = {k: v for k, v in before.items() if k != "net.pt.lock"}
    assert after == before, "a failed command changed the state or its history"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A 2 -> 2 network with gradients and two history entries."""
    folder = tmp_path_factory.mktemp("base")
    state = folder / "net.pt"
    assert run("inspect", "2", "2", "--seed", "0", state=state).exit_code == 0
    assert run("backward", "--x", "1,1", "--t", "1,0", state=state).exit_code == 0
    return folder


# --------------------------------------------------------------------------
# random text in every value option

NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**40), 10**40).map(str),
    st.sampled_from(
        [
            "",
            " ",
            "-",
            "+",
            ".",
            "e",
            "1e",
            "1e999",
            "-1e-999",
            "-0",
            "0x1",
            "1_000",
            "nan",
            "-inf",
            "Infinity",
            "１",
            "1.5.2",
            "--x",
            "1,",
            ";",
            "None",
            "1e5000",
            " 3 ",
        ]
    ),
)
VECTOR_TEXT = st.lists(NUMBER_TEXT, max_size=5).map(",".join)
MATRIX_TEXT = st.lists(VECTOR_TEXT, max_size=4).map(";".join)
TEXT = st.one_of(st.text(max_size=30), VECTOR_TEXT, MATRIX_TEXT)
ASSIGNMENT = st.one_of(
    st.text(max_size=25),
    st.builds(
        lambda name, index, value: f"{name}[{index}]={value}",
        st.sampled_from(["weight", "bias", "grad", "Weight"]),
        st.one_of(st.lists(st.integers(-4, 4).map(str), max_size=3).map(",".join), st.text(max_size=6)),
        st.one_of(NUMBER_TEXT, st.text(max_size=8)),
    ),
)


def value_commands(v1: str, v2: str, lr: str, a1: str, a2: str, csv_text: str) -> list[tuple[list[str], str | None]]:
    return [
        (["forward", f"--x={v1}"], None),
        (["backward", f"--x={v1}", f"--t={v2}"], None),
        (["train-step", f"--x={v1}", f"--t={v2}", f"--lr={lr}"], None),
        (["train", f"--x={v1}", f"--t={v2}", f"--lr={lr}", "--steps", "2"], None),
        (["train", "--data", "-", f"--lr={lr}", "--steps", "2"], csv_text),
        (["inspect", "2", "2", f"--weight={v1}", f"--bias={v2}"], None),
        (["inspect", f"--weight={v1}"], None),
        (["step", f"--lr={lr}"], None),
        (["step", "--optimizer", "adam", f"--betas={v1}", f"--lr={lr}"], None),
        (["train-step", "--x", "1,1", "--t", "0,1", f"--lr={lr}", f"--momentum={v2}"], None),
        (["set", a1, a2], None),
        (["set", a1], None),
    ]


@given(
    which=st.integers(0, 11),
    v1=TEXT,
    v2=TEXT,
    lr=st.one_of(NUMBER_TEXT, st.text(max_size=10)),
    a1=ASSIGNMENT,
    a2=ASSIGNMENT,
    csv_text=st.one_of(st.text(max_size=60), st.lists(VECTOR_TEXT, max_size=4).map("\n".join)),
    as_json=st.booleans(),
)
# text that once made a two-line message: the raw assignment, newline included, was echoed
@example(which=10, v1="", v2="", lr="", a1="weight[0,0]=x\n", a2="bias[0]=1", csv_text="", as_json=False)
@example(which=11, v1="", v2="", lr="", a1="bias[0]=\r\n", a2="", csv_text="", as_json=True)
@example(which=4, v1="", v2="", lr="0.1", a1="", a2="", csv_text="1,2,3,4\n1,2\n", as_json=False)
def test_random_text_in_value_options(base, which, v1, v2, lr, a1, a2, csv_text, as_json):
    args, stdin = value_commands(v1, v2, lr, a1, a2, csv_text)[which]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "s"
        shutil.copytree(base, folder)
        before = snapshot_files(folder)
        extra = ["--json"] if as_json else []
        result = run(*args, *extra, state=folder / "net.pt", input=stdin)
        check_outcome(result, folder, before, as_json)


@given(text=st.text(max_size=40))
def test_random_text_in_each_vector_option_alone(base, text):
    """Each option on its own, every other value valid: a bad value is exit 2 naming the option."""
    cases = [
        (["forward", f"--x={text}"], "--x"),
        (["backward", "--x", "1,1", f"--t={text}"], "--t"),
        (["inspect", "2", "2", f"--weight={text}"], "--weight"),
        (["inspect", "2", "2", f"--bias={text}"], "--bias"),
        (["train-step", "--x", "1,1", "--t", "1,1", f"--lr={text}"], "--lr"),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "s"
        shutil.copytree(base, folder)
        for args, option in cases:
            before = snapshot_files(folder)
            result = run(*args, state=folder / "net.pt")
            check_outcome(result, folder, before, False)
            if result.exit_code != 0:
                assert result.exit_code == 2, result.stderr
                assert option in result.stderr, result.stderr
            shutil.rmtree(folder)
            shutil.copytree(base, folder)


# --------------------------------------------------------------------------
# hostile values for every option of every command, listed from the Typer app itself


HOSTILE = [
    "",
    " ",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1e400",
    "-1e400",
    "-1",
    "0",
    "1e39",
    "1" + "0" * 30,
    str(2**63),
    str(-(2**64)),
    "9" * 5000,  # huge whole numbers, past int()'s digit limit too
    "١",
    "１٢",
    "−1",
    "–0.5",
    "1\u00a0",  # Unicode digits, minus signs and spaces
    ";",
    ",",
    ";;",
    "1,",
    ",1",
    "1;",
    "\n",
    "'",
    '"',
    "--",
    "-",
    "=",
    "x" * 10_000,
    "1," * 5_000 + "1",
    "1;" * 2_000 + "1",  # very long
]

# a working invocation of each command: its options and its positional arguments. A command the
# app gains without an entry here fails test_every_command_has_a_baseline, so none goes untested.
BASELINES: dict[str, tuple[dict[str, str], list[str]]] = {
    "inspect": ({}, ["2", "2"]),
    "forward": ({"--x": "1,1"}, []),
    "backward": ({"--x": "1,1", "--t": "1,0"}, []),
    "step": ({"--lr": "0.1"}, []),
    "zero-grad": ({}, []),
    "train-step": ({"--x": "1,1", "--t": "1,0", "--lr": "0.1"}, []),
    "train": ({"--x": "1,1;0.5,-1", "--t": "1,0;0,1", "--lr": "0.1", "--steps": "2"}, []),
    "history": ({}, []),
    "undo": ({}, []),
    "diff": ({}, []),
    "set": ({}, ["weight[0,0]=0.5"]),
    "shell": ({}, []),
    "graph": ({"--x": "1,1", "--t": "1,0"}, []),
    "plot": ({}, []),
    "export": ({}, [os.path.join(tempfile.gettempdir(), "linctl-test-export.json")]),
    "import": ({}, [str(Path(__file__).parent / "data" / "format1" / "adam.pt")]),
    "view": ({"--export": os.path.join(tempfile.gettempdir(), "linctl-test-view")}, []),  # a server never returns
}
# positional arguments before the one under test, where the baseline has none there
ARGUMENT_FILL = {"inspect": ["2", "2"], "diff": ["1", "2"], "undo": ["1"], "set": ["weight[0,0]=0.5"]}
# options the one under test cannot go with
EXCLUSIVE = {("train", "--data"): ["--x", "--t"]}


@functools.cache
def app_commands():
    """The click group Typer builds from the app (what `linctl` runs), built once."""
    import typer

    from linctl.app import app

    return typer.main.get_command(app)


def run_group(*argv: str, input: str | None = None):
    """conftest.run, on the group built once: the same invocation without Typer rebuilding it each time."""
    from conftest import run_fast

    return run_fast(*argv, input=input)


def is_flag(command: str, param_name: str) -> bool:
    group = app_commands()
    params = group.params if not command else group.commands[command].params
    return bool(getattr(next(p for p in params if p.name == param_name), "is_flag", False))


def every_parameter() -> list[tuple[str, str]]:
    """(command, parameter name) for every parameter of every command, and the app's own options."""
    group = app_commands()
    pairs = [("", p.name) for p in group.params]
    for name, command in sorted(group.commands.items()):
        pairs += [(name, p.name) for p in command.params]
    return pairs


def hostile_argv(command: str, param_name: str, value: str, state: Path) -> list[str] | None:
    """The baseline invocation with this parameter given `value` (None: nothing to give it)."""
    group = app_commands()
    if not command:  # the app's own options: --version
        param = next(p for p in group.params if p.name == param_name)
        return [f"{param.opts[0]}={value}"]
    click_command = group.commands[command]
    param = next(p for p in click_command.params if p.name == param_name)
    options, base_args = BASELINES[command]
    options = dict(options)
    arguments = list(base_args)
    if param.param_type_name == "argument":
        position = [p.name for p in click_command.params if p.param_type_name == "argument"].index(param_name)
        fill = ARGUMENT_FILL.get(command, [])
        before = [*arguments, *fill[len(arguments) :]][:position]
        arguments = [*before, value, *arguments[position + 1 :]]
    else:
        long = next(o for o in param.opts if o.startswith("--"))
        for other in EXCLUSIVE.get((command, long), []):
            options.pop(other, None)
        options[long] = value
    argv = [command] + [f"{k}={v}" for k, v in options.items()]
    if "--state" not in options:
        argv += ["--state", str(state)]
    return [*argv, "--", *arguments] if arguments else argv


def test_the_sweep_gives_every_value_to_every_option():
    """The default run and the slow set together give each option every hostile value."""
    given_to: dict[tuple[str, str], list[str]] = {}
    for case in sweep():
        command, param, which = case.values
        given_to.setdefault((command, param), []).extend(hostile_values(command, param, which))
    assert set(given_to) == set(every_parameter())
    for (command, param), values in given_to.items():
        assert sorted(values) == sorted([*HOSTILE[:6], "x" * 10_000] if is_flag(command, param) else HOSTILE)
    assert set(HOSTILE) > MORE_NAMES_OF_A_KIND


def test_every_command_has_a_baseline():
    assert set(app_commands().commands) == set(BASELINES), "a new command needs a working invocation in BASELINES"


def test_each_baseline_works(base):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "s"
        for command, (options, arguments) in BASELINES.items():
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(base, folder)
            argv = [
                command,
                *(f"{k}={v}" for k, v in options.items()),
                "--state",
                str(folder / "net.pt"),
                "--",
                *arguments,
            ]
            result = run_group(*argv, input="")
            assert result.exit_code == 0, (argv, result.stderr)


def state_loads(path: Path) -> None:
    from linctl.store import state as state_file

    state_file.load(path)  # raises if the file was damaged


# --svg and --html name the file a view is saved in: to them every value is a file name, and each one taken
# draws and saves the whole view (~60 ms, most of this sweep's time). The default run gives them each kind
# of name (blank, too long, a newline, a leading '-', punctuation, quotes, non-ASCII, a plain one) and the
# values that refuse; the slow set gives them these, more names of the kinds already given.
MORE_NAMES_OF_A_KIND = {
    *("NaN", "inf", "-inf", "1e400", "-1e400", "0", "1e39", "1" + "0" * 30, str(2**63), str(-(2**64))),
    *("１٢", "–0.5", ";;", "1,", ",1", "1;"),
}
SAVES_A_VIEW = ("svg", "html")


def sweep() -> list:
    """(command, parameter, which values) for every parameter; the extra file names in the slow set."""
    cases = []
    for command, param in every_parameter():
        if param in SAVES_A_VIEW:
            cases.append(pytest.param(command, param, "kinds", id=f"{command}-{param}"))
            cases.append(pytest.param(command, param, "more", id=f"{command}-{param}-more", marks=pytest.mark.slow))
        else:
            cases.append(pytest.param(command, param, "all", id=f"{command}-{param}"))
    return cases


def hostile_values(command: str, param: str, which: str) -> list[str]:
    if is_flag(command, param):
        # a flag takes no value: click refuses `--json=x` alike for any x, so a few values, and the flag alone
        return [*HOSTILE[:6], "x" * 10_000]
    if which == "all":
        return HOSTILE
    return [v for v in HOSTILE if (v in MORE_NAMES_OF_A_KIND) == (which == "more")]


@pytest.mark.parametrize("command,param,which", sweep())
def test_hostile_values_in_every_option(base, tmp_path, monkeypatch, command, param, which):
    """Every value is exit 0, 1 or 2; a failure is one line, never an internal error, and changes nothing."""
    monkeypatch.chdir(tmp_path)  # --state '' means .linctl/net.pt here; --state x makes ./x
    folder = tmp_path / "s"
    shutil.copytree(base, folder)
    before = snapshot_files(folder)
    for value in hostile_values(command, param, which):
        argv = hostile_argv(command, param, value, folder / "net.pt")
        result = run_group(*argv, input="")
        try:
            check_outcome(result, folder, before, False)
        except AssertionError as exc:
            raise AssertionError(f"linctl {' '.join(a[:60] for a in argv)}\n{result.stderr[:300]}") from exc
        state_loads(folder / "net.pt")
        if result.exit_code == 0:  # a change that worked: start the next value from the base again
            shutil.rmtree(folder)
            shutil.copytree(base, folder)


def test_hostile_lines_to_the_shell(base, tmp_path, monkeypatch):
    """Each hostile value alone on a line, and in each command's options: the shell runs them all, none crashes."""
    import shlex

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "s"
    shutil.copytree(base, folder)
    state = folder / "net.pt"
    short = [value.replace("\n", " ") for value in HOSTILE if len(value) < 1000]
    lines = short + [f"help {value}" for value in short] + [f"{value} --help" for value in short]
    # each option of each command once, the hostile values taken in turn
    for i, (command, param) in enumerate(every_parameter()):
        if command not in ("", "shell"):
            lines.append(shlex.join(hostile_argv(command, param, short[i % len(short)], state)))
    lines += ["shell", "help", "help forward", "'unclosed", 'forward --x "1,1', "# a comment", "linctl", "exit"]
    result = run_group("shell", "--state", str(state), input="\n".join(lines) + "\n")
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    internal = [line for line in result.stderr.splitlines() if "internal error" in line]
    assert not internal, internal
    state_loads(state)


# --------------------------------------------------------------------------
# random shapes to every command


def rows_text(rows: int, width: int, offset: float = 0.0) -> str:
    return ";".join(",".join(f"{0.25 * (i + 1) - 0.5 * j + offset:g}" for j in range(width)) for i in range(rows))


@given(
    n_in=st.integers(1, 4),
    n_out=st.integers(1, 4),
    bias=st.booleans(),
    x_shape=st.tuples(st.integers(1, 3), st.integers(1, 5)),
    t_shape=st.tuples(st.integers(1, 3), st.integers(1, 5)),
    index=st.lists(st.integers(-5, 5), min_size=0, max_size=3),
    count=st.integers(0, 3),
    pair=st.tuples(st.integers(0, 4), st.integers(0, 4)),
    command=st.sampled_from(
        [
            "forward",
            "backward",
            "train-step",
            "train",
            "step",
            "zero-grad",
            "set-weight",
            "set-bias",
            "undo",
            "diff",
            "history",
            "inspect",
        ]
    ),
)
def test_random_shapes_to_every_command(n_in, n_out, bias, x_shape, t_shape, index, count, pair, command):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        state = folder / "net.pt"
        build = ["inspect", str(n_in), str(n_out), "--seed", "1"] + ([] if bias else ["--no-bias"])
        assert run(*build, state=state).exit_code == 0
        good_x, good_t = rows_text(2, n_in), rows_text(2, n_out, 0.1)
        assert run("backward", "--x", good_x, "--t", good_t, state=state).exit_code == 0  # entry 2, with gradients
        x, t = rows_text(*x_shape), rows_text(*t_shape, 0.1)
        fits = x_shape[1] == n_in and t_shape[1] == n_out and t_shape[0] == x_shape[0]
        index_text = ",".join(map(str, index))
        args = {
            "forward": (["forward", "--x", x], x_shape[1] == n_in),
            "backward": (["backward", "--x", x, "--t", t], fits),
            "train-step": (["train-step", "--x", x, "--t", t, "--lr", "0.1"], fits),
            "train": (["train", "--x", x, "--t", t, "--lr", "0.1", "--epochs", "2", "--batch-size", "2"], fits),
            "step": (["step", "--lr", "0.1"], True),
            "zero-grad": (["zero-grad"], True),
            "set-weight": (
                ["set", f"weight[{index_text}]=0.5"],
                len(index) == 2 and -n_out <= index[0] < n_out and -n_in <= index[1] < n_in,
            ),
            "set-bias": (["set", f"bias[{index_text}]=0.5"], bias and len(index) == 1 and -n_out <= index[0] < n_out),
            "undo": (["undo", str(count)], count == 1),
            "diff": (["diff", str(pair[0]), str(pair[1])], pair[0] in (1, 2) and pair[1] in (1, 2)),
            "history": (["history"], True),
            "inspect": (["inspect"], True),
        }
        argv, should_work = args[command]
        before = snapshot_files(folder)
        result = run(*argv, "--json", state=state)
        check_outcome(result, folder, before, True)
        if should_work:
            assert result.exit_code == 0, (argv, result.stderr)
        else:
            assert result.exit_code in (1, 2), (argv, result.stdout)
        if result.exit_code == 0 and command in ("forward", "backward", "train-step", "train"):
            out = result.json()
            if command == "forward":
                # the output has one row per sample and OUT columns, as net(x) does
                net = torch.nn.Linear(n_in, n_out, bias=bias)
                params = saved(state)["params"]
                with torch.no_grad():
                    net.weight.copy_(params["weight"])
                    if bias:
                        net.bias.copy_(params["bias"])
                    expected = net(torch.tensor([[float(v) for v in r.split(",")] for r in x.split(";")]))
                assert torch.tensor(out["output"]).shape == expected.shape
                torch.testing.assert_close(torch.tensor(out["output"]), expected)
            else:
                assert torch.tensor(out["weight"]).shape == (n_out, n_in)


# --------------------------------------------------------------------------
# a state file crafted to run code


class Exploit:
    """Unpickling this runs a shell command."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def craft(path: Path, marker: Path, kind: str) -> None:
    payload = Exploit(f"touch {marker}")
    if kind == "torch":
        # looks like a linctl file from the outside: a zip written by torch.save, with real tensors too
        torch.save({"app": "linctl", "format": 1, "params": {"0.weight": torch.zeros(1, 2)}, "x": payload}, path)
    else:
        with open(path, "wb") as handle:
            pickle.dump({"app": "linctl", "format": 1, "x": payload}, handle)


@pytest.mark.parametrize("kind", ["torch", "pickle"])
def test_crafted_files_really_run_code_when_unpickled_unsafely(tmp_path, kind):
    """The test's files are truly malicious: an unsafe load runs the command."""
    marker = tmp_path / "ran"
    path = tmp_path / "probe.pt"
    craft(path, marker, kind)
    if kind == "torch":
        torch.load(path, weights_only=False)
    else:
        with open(path, "rb") as handle:
            pickle.load(handle)
    assert marker.exists()


MALICIOUS_COMMANDS = [
    ["inspect"],
    ["inspect", "2", "1"],
    ["forward", "--x", "1,1"],
    ["backward", "--x", "1,1", "--t", "1"],
    ["step", "--lr", "0.1"],
    ["zero-grad"],
    ["train-step", "--x", "1,1", "--t", "1", "--lr", "0.1"],
    ["train", "--x", "1,1", "--t", "1", "--lr", "0.1"],
    ["set", "weight[0,0]=1"],
    ["history"],
    ["undo"],
    ["diff"],
]


@pytest.mark.parametrize("kind", ["torch", "pickle"])
def test_malicious_state_file_is_refused_without_running_it(tmp_path, kind):
    marker = tmp_path / "MARKER"
    state = tmp_path / "net.pt"
    craft(state, marker, kind)
    before = state.read_bytes()
    for args in MALICIOUS_COMMANDS:
        result = run(*args, state=state)
        assert result.exit_code == 1, (args, result.exit_code, result.stderr)
        message = result.stderr.strip()
        assert len(message.splitlines()) == 1 and "Traceback" not in message, (args, message)
        assert "net.pt" in message, (args, message)
        assert not marker.exists(), args
        assert state.read_bytes() == before, args


@pytest.mark.slow  # the same refusal in-process: test_malicious_state_file_is_refused_without_running_it
def test_malicious_state_file_in_a_real_process(tmp_path):
    from conftest import run_process

    marker = tmp_path / "MARKER"
    state = tmp_path / "net.pt"
    craft(state, marker, "torch")
    result = run_process("inspect", "--json", state=state)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "refuse" in result.stderr.lower() or "cannot" in result.stderr.lower()
    assert not marker.exists()


def test_malicious_history_snapshot_is_refused(tmp_path):
    state = tmp_path / "net.pt"
    marker = tmp_path / "MARKER"
    assert run("inspect", "2", "1", "--seed", "0", state=state).exit_code == 0
    assert run("train-step", "--x", "1,1", "--t", "1", "--lr", "0.1", state=state).exit_code == 0
    snapshot = Path(str(state) + ".history") / "1.pt"
    snapshot.unlink()
    craft(snapshot, marker, "torch")
    before = state.read_bytes()
    for args in (["undo"], ["diff", "1", "2"]):
        result = run(*args, state=state)
        assert result.exit_code == 1, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
        assert not marker.exists()
        assert state.read_bytes() == before
