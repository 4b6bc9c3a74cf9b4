"""Every number trusted: values torch would refuse, values the dtype cannot hold, digits that are not ASCII.

- `--loss bce` takes targets in [0, 1] and no NaN input, as torch's binary_cross_entropy does; anything
  else is exit 2 naming the option (or the data file's line) and the range, with the state file unchanged.
- A typed number beyond float32 (1e39) becomes inf in a float32 network: a warning says so, as `--x inf` does.
- Numbers are ASCII: Python's float() and int() also read Arabic-Indic or full-width digits, linctl does not.
"""

from __future__ import annotations

import shutil

import pytest
import torch

from conftest import f32, run, run_json, saved

X = "1,2;0.5,-1;-1,0.25"


def build(state, *extra: str) -> None:
    result = run(
        "inspect",
        "2",
        "1",
        "--weight",
        "0.5,-0.25",
        "--bias",
        "0.1",
        "--activation",
        "sigmoid",
        *extra,
        "--json",
        state=state,
    )
    assert result.exit_code == 0, result.stderr


def folder_bytes(state) -> dict[str, bytes]:
    """The state file and everything beside it (history, backup), byte for byte; not the tests' CSV files."""
    return {
        str(p.relative_to(state.parent)): p.read_bytes()
        for p in sorted(state.parent.rglob("*"))
        if p.is_file() and not p.name.endswith((".lock", ".csv"))
    }


def refused(result, *words: str, code: int = 2) -> str:
    """One error line (warnings may come first), no internal error, no traceback, no stdout."""
    assert result.exit_code == code, (result.exit_code, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("warning:")]
    assert len(errors) == 1, result.stderr
    assert "internal error" not in errors[0]
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


# --------------------------------------------------------------------------
# --loss bce: targets in [0, 1], no NaN input


BCE_CASES = [
    # x, t, words in the message
    (X, "1;0;2", ["--t row 3 value 1", "[0, 1]", "got 2"]),
    (X, "1;-0.5;0", ["--t row 2 value 1", "[0, 1]", "got -0.5"]),
    (X, "nan;0;1", ["--t row 1 value 1", "[0, 1]", "nan"]),
    (X, "1;0;-inf", ["--t row 3 value 1", "[0, 1]", "-inf"]),
    ("1,2;nan,-1;-1,0.25", "1;0;1", ["--x row 2 value 1", "NaN"]),
    ("1,nan", "1", ["--x value 2", "NaN"]),
]


@pytest.mark.parametrize("command", ["backward", "train-step", "train"])
@pytest.mark.parametrize("x,t,words", BCE_CASES)
def test_bce_bad_targets_and_nan_inputs_are_exit_2(state, command, x, t, words):
    build(state)
    before = folder_bytes(state)
    extra = {"backward": [], "train-step": ["--lr", "0.1"], "train": ["--lr", "0.1", "--steps", "2"]}[command]
    result = run(command, f"--x={x}", f"--t={t}", "--loss", "bce", *extra, "--json", state=state)
    refused(result, *words)
    assert folder_bytes(state) == before


@pytest.mark.parametrize("command", ["backward", "train-step", "train"])
def test_bce_targets_at_0_and_1_are_fine(state, command):
    build(state)
    # train without --no-shuffle would sum the batch in another order, and the last bits could differ
    extra = {"backward": [], "train-step": ["--lr", "0.1"], "train": ["--lr", "0.1", "--steps", "1", "--no-shuffle"]}[
        command
    ]
    out = run_json(command, f"--x={X}", "--t=1;0;1", "--loss", "bce", *extra, state=state)
    net = torch.nn.Linear(2, 1)
    with torch.no_grad():
        net.weight.copy_(f32([[0.5, -0.25]]))
        net.bias.copy_(f32([0.1]))
    value = torch.nn.BCELoss()(torch.sigmoid(net(f32([[1, 2], [0.5, -1], [-1, 0.25]]))), f32([[1], [0], [1]]))
    assert (out["losses"][0] if command == "train" else out["loss"]) == value.item()


@pytest.mark.parametrize(
    "text,line,column,words",
    [
        ("1,2,1\n0.5,-1,0\n-1,0.25,1.5\n", 3, 3, ["[0, 1]", "1.5"]),
        ("x1,x2,y\n1,2,1\n\n0.5,-1,-1\n", 4, 3, ["[0, 1]", "-1"]),  # a header and a blank line: file lines
        ("x1,x2,y\r\n1,2,1\r\n0.5,-1,nan\r\n", 3, 3, ["[0, 1]", "nan"]),
        ("1,2,1\n\n\nnan,-1,0\n", 4, 1, ["NaN"]),
        ("a,b,c\n1,2,1\n0.5,nan,0\n", 3, 2, ["NaN"]),
    ],
)
@pytest.mark.parametrize("source", ["file", "stdin"])
def test_bce_in_a_data_file_names_the_line(tmp_path, state, text, line, column, words, source):
    build(state)
    before = folder_bytes(state)
    path = tmp_path / "data.csv"
    path.write_text(text)
    where = str(path) if source == "file" else "-"
    result = run(
        "train", "--data", where, "--loss", "bce", "--lr", "0.1", state=state, input=text if source == "stdin" else None
    )
    name = str(path) if source == "file" else "stdin"
    refused(result, f"--data {name} line {line} column {column}", "--loss bce", *words)
    assert folder_bytes(state) == before


def test_bce_data_check_is_on_float32_values(tmp_path, state):
    """1.00000001 is 1.0 in float32, which torch takes: the check is on the values the network gets."""
    build(state)
    path = tmp_path / "data.csv"
    path.write_text("1,2,1.00000001\n0.5,-1,0\n")
    out = run_json("train", "--data", str(path), "--loss", "bce", "--lr", "0.1", "--no-shuffle", state=state)
    assert out["steps"] == 1


def test_bce_nan_from_infinite_weights_during_train_is_exit_2(state):
    """inf - inf in the layer makes NaN that sigmoid keeps: torch would raise; linctl names it."""
    build(state)
    assert run("set", "weight[0,0]=inf", "weight[0,1]=-inf", state=state).exit_code == 0
    before = folder_bytes(state)
    for extra in (["train", "--lr", "0.1", "--steps", "3"], ["train-step", "--lr", "0.1"], ["backward"]):
        result = run(*extra, "--x=1,1", "--t=1", "--loss", "bce", state=state)
        refused(result, "nan", "[0, 1]", "weights")
        assert folder_bytes(state) == before


# --------------------------------------------------------------------------
# values beyond float32 warn after the cast, as inf does


OVERFLOW = [
    (["forward", "--x=1e39,1"], "--x", "1e+39", "inf"),
    (["forward", "--x=1,-3.5e38"], "--x", "-3.5e+38", "-inf"),
    (["backward", "--x=1,1", "--t=1e39"], "--t", "1e+39", "inf"),
    (["train-step", "--x=1e39,1", "--t=1", "--lr", "0.1"], "--x", "1e+39", "inf"),
    (["train-step", "--x=1,1", "--t=-1e300", "--lr", "0.1"], "--t", "-1e+300", "-inf"),
    (["train", "--x=1e39,1", "--t=1", "--lr", "0.1", "--steps", "1"], "--x", "1e+39", "inf"),
    (["train", "--x=1,1", "--t=1e39", "--lr", "0.1", "--steps", "1"], "--t", "1e+39", "inf"),
]


@pytest.mark.parametrize("args,option,value,became", OVERFLOW)
def test_values_beyond_float32_warn(state, args, option, value, became):
    build(state)
    result = run(*args, "--json", state=state)
    assert result.exit_code == 0, result.stderr
    result.json()  # stdout is still one JSON object
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:") and "float32" in line]
    assert len(warnings) == 1, result.stderr
    assert option in warnings[0] and value in warnings[0] and f"became {became}" in warnings[0]
    assert "float64" in warnings[0]  # the way out


@pytest.mark.parametrize("args", [a for a, *_ in OVERFLOW])
def test_a_float64_network_holds_them_without_warning(state, args):
    build(state, "--dtype", "float64")
    result = run(*args, "--json", state=state)
    assert result.exit_code == 0, result.stderr
    assert "beyond" not in result.stderr


def test_typed_inf_keeps_its_own_warning_only(state):
    build(state)
    result = run("forward", "--x=inf,1", state=state)
    assert result.exit_code == 0
    assert "NaN/inf" in result.stderr and "beyond" not in result.stderr


def test_weight_and_bias_beyond_float32_warn(state):
    result = run("inspect", "2", "1", "--weight", "1e39,1", "--bias", "-1e40", "--json", state=state)
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["weight"][0][0] is None  # inf: JSON has no such number
    lines = result.stderr.splitlines()
    assert any("--weight" in line and "1e+39" in line and "became inf" in line for line in lines), result.stderr
    assert any("--bias" in line and "-1e+40" in line and "became -inf" in line for line in lines), result.stderr
    params = saved(state)["params"]
    assert params["weight"][0, 0] == float("inf") and params["bias"][0] == float("-inf")


def test_data_values_beyond_float32_warn(tmp_path, state):
    build(state)
    path = tmp_path / "d.csv"
    path.write_text("1,2,1\n1e39,1,0\n1,-1e39,1\n")
    result = run("train", "--data", str(path), "--lr", "0.1", "--json", state=state)
    assert result.exit_code == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "beyond" in line]
    assert len(warning) == 1 and f"--data {path}" in warning[0] and "1 more" in warning[0], result.stderr


@pytest.mark.parametrize("value,shown", [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf")])
def test_set_a_non_finite_value_warns(state, value, shown):
    build(state)
    result = run("set", f"weight[0,1]={value}", "--json", state=state)
    assert result.exit_code == 0, result.stderr
    result.json()
    assert result.stderr.startswith("warning: weight[0,1] is now " + shown), result.stderr
    quiet = run("set", "weight[0,1]=0.5", state=state)
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_set_beyond_float32_is_refused(state):
    build(state)
    before = folder_bytes(state)
    refused(run("set", "weight[0,0]=1e39", state=state), "weight[0,0]", "float32")
    assert folder_bytes(state) == before


# --------------------------------------------------------------------------
# ASCII numbers only


UNICODE_NUMBERS = [
    # text, words in the message
    ("١", ["ARABIC-INDIC DIGIT ONE", "0-9 (ASCII)"]),
    ("１", ["FULLWIDTH DIGIT ONE", "0-9 (ASCII)"]),
    ("٣٥", ["0-9 (ASCII)"]),
    ("1e٣", ["0-9 (ASCII)"]),
    ("²", ["SUPERSCRIPT TWO", "0-9 (ASCII)"]),
    ("−1", ["MINUS SIGN", "use '-' (ASCII)"]),
    ("–1", ["EN DASH", "use '-' (ASCII)"]),
    ("1e−3", ["MINUS SIGN", "use '-' (ASCII)"]),
    ("－1", ["FULLWIDTH HYPHEN-MINUS", "use '-' (ASCII)"]),
    ("1\u00a0", ["NO-BREAK SPACE"]),
    ("\u200b1", ["ZERO WIDTH SPACE"]),
]

# (arguments around the value, the option the message names); {} is the value
UNICODE_PLACES = [
    (["forward", "--x=1,{}"], "--x value 2"),
    (["backward", "--x=1,1", "--t={}"], "--t value 1"),
    (["train-step", "--x=1,1", "--t=1", "--lr={}"], "--lr"),
    (["train", "--x=1,1", "--t=1", "--lr=0.1", "--steps={}"], "--steps"),
    (["inspect", "2", "1", "--weight=1,{}"], "--weight value 2"),
    (["inspect", "2", "1", "--bias={}"], "--bias"),
    (["inspect", "{}", "1"], "linctl: IN/OUT: "),
    (["step", "--optimizer", "adam", "--lr=0.1", "--betas=0.9,{}"], "--betas value 2"),
    (["history", "--last={}"], "--last"),
    (["undo", "{}"], "linctl: N: "),
    (["set", "weight[0,0]={}"], "weight[0,0]"),
]


@pytest.fixture(scope="module")
def with_gradients(tmp_path_factory):
    """The built network after one backward (two history entries), built once; each test takes a copy."""
    state = tmp_path_factory.mktemp("built") / "net.pt"
    build(state)
    assert run("backward", "--x=1,1", "--t=1", state=state).exit_code == 0
    return state


@pytest.mark.parametrize("text,words", UNICODE_NUMBERS)
@pytest.mark.parametrize("args,option", UNICODE_PLACES)
def test_only_ascii_numbers(with_gradients, tmp_path, args, option, text, words):
    shutil.copytree(with_gradients.parent, tmp_path / "s")
    state = tmp_path / "s" / with_gradients.name
    before = folder_bytes(state)
    result = run(*[a.replace("{}", text) for a in args], state=state)
    message = refused(result, option)
    assert any(word in message for word in words), message
    assert folder_bytes(state) == before


def test_unicode_index_in_set_is_refused(state):
    build(state)
    before = folder_bytes(state)
    refused(run("set", "weight[٠,0]=1", state=state), "whole numbers (ASCII digits)")
    assert folder_bytes(state) == before


@pytest.mark.parametrize("text,words", UNICODE_NUMBERS)
def test_only_ascii_numbers_in_data_files(tmp_path, state, text, words):
    build(state)
    before = folder_bytes(state)
    path = tmp_path / "d.csv"
    path.write_text(f"1,2,1\n0.5,{text},0\n", encoding="utf-8")
    message = refused(run("train", "--data", str(path), "--lr", "0.1", state=state), "line 2 column 2")
    assert any(word in message for word in words), message
    assert folder_bytes(state) == before


def test_a_first_line_of_unicode_digits_is_data_not_a_header(tmp_path, state):
    """Were '١,٢,١' taken for a header, its sample would vanish silently."""
    build(state)
    path = tmp_path / "d.csv"
    path.write_text("١,٢,١\n1,2,1\n", encoding="utf-8")
    refused(run("train", "--data", str(path), "--lr", "0.1", state=state), "line 1 column 1", "0-9 (ASCII)")


@pytest.mark.parametrize(
    "text,value",
    [
        ("1", 1.0),
        ("-0.5", -0.5),
        ("+2", 2.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("2e-3", 2e-3),
        ("1E+2", 100.0),
        (" 3 ", 3.0),
        ("\t-1\n", -1.0),
    ],
)
def test_ascii_numbers_still_read(text, value):
    from linctl.parsing import parse_number

    assert parse_number(text, "--x") == value


@pytest.mark.parametrize("text", ["inf", "-inf", "+Infinity", "INF", "nan", "NaN", "-nan"])
def test_inf_and_nan_words_still_read(text):
    import math

    from linctl.parsing import parse_number

    value = parse_number(text, "--x")
    assert math.isnan(value) if "nan" in text.lower() else value == float(text)


@pytest.mark.parametrize("text", ["1_000", "0x1", "1.5.2", "1e", "e3", "--1", "1,", "infinit", "nan1", "1 2", "١"])
def test_what_is_not_a_number(text):
    from linctl.errors import UsageError
    from linctl.parsing import parse_number

    with pytest.raises(UsageError) as info:
        parse_number(text, "--x")
    assert "--x" in str(info.value) and "\n" not in str(info.value)


def test_long_bad_values_are_cut_short_in_messages(state):
    build(state)
    result = run("forward", "--x=1," + "x" * 5000, state=state)
    message = refused(result, "--x value 2", "5000 characters")
    assert len(message) < 300


@pytest.mark.parametrize("text", ["1", "-3", "+2", " 7 "])
def test_whole_numbers_still_read(state, text):
    result = run("inspect", "2", "1", f"--seed={text}", "--json", state=state)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("text", ["1.5", "1e3", "1_000", "x", "0x10", "inf"])
def test_whole_number_options_refuse_other_text(state, text):
    refused(run("inspect", "2", "1", f"--seed={text}", state=state), "--seed", "not a whole number")
