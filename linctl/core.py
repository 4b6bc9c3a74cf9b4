"""Torch work on one linear layer: build, forward, loss, backward.

Everything here returns plain result objects holding CPU tensors; nothing
prints. The network lives between commands as a plain dict (see state.py);
`Network` is the live torch view of that dict for one command.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from linctl import state as state_file
from linctl.errors import LinctlError, UsageError

ACTIVATIONS = ("none", "sigmoid", "relu", "tanh")
LOSSES = ("mse", "l1", "bce", "diff")
DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda", "auto")
PARAM_NAMES = ("0.weight", "0.bias")


# --------------------------------------------------------------------------
# devices and dtypes


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "float64": torch.float64}[name]


def element_size(dtype: str) -> int:
    return {"float32": 4, "float64": 8}[dtype]


def resolve_device(name: str | None):
    import torch

    name = (name or "cpu").lower()
    if name not in DEVICES:
        raise UsageError(f"--device (or LINCTL_DEVICE): expected one of cpu, cuda, auto, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise LinctlError(
            f"--device cuda: no CUDA GPU is available (torch {torch.__version__}); use --device cpu or --device auto"
        )
    return torch.device(name)


def available_memory() -> int | None:
    """Bytes of memory free for new allocations, from /proc/meminfo where it exists."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# --------------------------------------------------------------------------
# the network


def structure(layer: dict) -> str:
    """The structure line exactly as torch prints the module."""
    return (
        f"Linear(in_features={layer['in_features']}, out_features={layer['out_features']}, bias={bool(layer['bias'])})"
    )


def new_state(
    in_features: int,
    out_features: int,
    *,
    bias: bool = True,
    activation: str = "none",
    dtype: str = "float32",
    seed: int | None = None,
    weight: list[list[float]] | None = None,
    bias_values: list[float] | None = None,
    notes: list[str] | None = None,
) -> dict:
    """Build torch.nn.Linear(in, out) with torch's own init and return its state dict.

    A warning for --weight/--bias values the dtype cannot hold goes to `notes`.
    """
    import torch

    if weight is not None and (len(weight) != out_features or any(len(row) != in_features for row in weight)):
        cols = len(weight[0]) if weight else 0
        raise UsageError(
            f"--weight: expected shape (OUT, IN) = ({out_features}, {in_features}): {out_features} rows of "
            f"{in_features} values, got ({len(weight)}, {cols})"
        )
    if bias_values is not None:
        if not bias:
            raise UsageError("--bias and --no-bias contradict each other; drop one")
        if len(bias_values) != out_features:
            raise UsageError(f"--bias: expected {out_features} values (one per output), got {len(bias_values)}")
    if seed is not None:
        torch.manual_seed(seed)
    linear = torch.nn.Linear(in_features, out_features, bias=bias, dtype=torch_dtype(dtype))
    with torch.no_grad():
        for option, values, param in (("--weight", weight, linear.weight), ("--bias", bias_values, linear.bias)):
            if values is None:
                continue
            cast = torch.tensor(values, dtype=param.dtype)
            warning = cast_note(values, cast, option)
            if warning and notes is not None:
                notes.append(warning)
            param.copy_(cast)
    params = {"0.weight": linear.weight.detach()}
    if bias:
        params["0.bias"] = linear.bias.detach()
    return {
        "format": state_file.FORMAT,
        "app": state_file.APP,
        "dtype": dtype,
        "layers": [
            {
                "type": "linear",
                "in_features": in_features,
                "out_features": out_features,
                "bias": bool(bias),
                "activation": activation,
            }
        ],
        "params": params,
        "grads": {name: None for name in params},
        "optimizer": {"name": None, "settings": {}, "state": None},
        "step": 0,
        "seed": seed,
        "last_x": None,
        "last_t": None,
    }


class Network:
    """A real torch.nn.Linear built from a state dict, on one device."""

    def __init__(self, data: dict, device=None, copy: bool = True):
        import torch

        self.data = data
        self.device = device if device is not None else torch.device("cpu")
        self.notes: list[str] = []  # warnings about the values this command was given
        layer = data["layers"][0]
        self.layer = layer
        self.dtype = torch_dtype(data.get("dtype", "float32"))
        linear = torch.nn.Linear(
            layer["in_features"], layer["out_features"], bias=layer["bias"], device="meta", dtype=self.dtype
        )
        tensors = {"weight": data["params"]["0.weight"]}
        if layer["bias"]:
            tensors["bias"] = data["params"]["0.bias"]
        # a copy keeps `data` as it was loaded while the live parameters change
        tensors = {k: v.to(device=self.device, dtype=self.dtype, copy=copy) for k, v in tensors.items()}
        linear.load_state_dict(tensors, assign=True)
        self.linear = linear
        for name, param in self.named_params():
            grad = data["grads"].get(name)
            param.grad = None if grad is None else grad.to(device=self.device, dtype=self.dtype, copy=copy)

    @property
    def in_features(self) -> int:
        return self.layer["in_features"]

    @property
    def out_features(self) -> int:
        return self.layer["out_features"]

    @property
    def activation(self) -> str:
        return self.layer.get("activation", "none")

    def named_params(self):
        yield "0.weight", self.linear.weight
        if self.linear.bias is not None:
            yield "0.bias", self.linear.bias

    def parameters(self):
        return [p for _, p in self.named_params()]

    def weight(self):
        return cpu(self.linear.weight)

    def bias(self):
        return None if self.linear.bias is None else cpu(self.linear.bias)

    def weight_grad(self):
        return None if self.linear.weight.grad is None else cpu(self.linear.weight.grad)

    def bias_grad(self):
        if self.linear.bias is None or self.linear.bias.grad is None:
            return None
        return cpu(self.linear.bias.grad)

    def to_state(self) -> dict:
        """The state dict with this network's current parameters and gradients."""
        data = dict(self.data)
        data["params"] = {name: cpu(p) for name, p in self.named_params()}
        data["grads"] = {name: None if p.grad is None else cpu(p.grad) for name, p in self.named_params()}
        return data

    def tensor(self, rows: list[list[float]], option: str | None = None):
        """Typed rows in the network's dtype; a value the dtype cannot hold is noted under `option`."""
        import torch

        cast = torch.tensor(rows, dtype=self.dtype, device=self.device)
        warning = cast_note(rows, cast, option) if option else None
        if warning:
            self.notes.append(warning)
        return cast


def cast_note(typed, cast, what: str) -> str | None:
    """A warning when finite typed numbers became inf in the network's dtype (1e39 in float32)."""
    import torch

    if cast.dtype == torch.float64 or cast.numel() == 0:
        return None
    bad = ~torch.isfinite(cast)
    if not bool(bad.any()):
        return None
    typed = typed.double() if isinstance(typed, torch.Tensor) else torch.tensor(typed, dtype=torch.float64)
    overflowed = bad.cpu() & torch.isfinite(typed.cpu())
    count = int(overflowed.sum())
    if not count:
        return None  # NaN/inf as typed: the typed-value warning covers them
    first = float(typed.cpu()[overflowed][0])
    name = str(cast.dtype).replace("torch.", "")
    more = f" (and {count - 1} more)" if count > 1 else ""
    return (
        f"warning: {what}: {first:g}{more} is beyond {name}'s range (±{torch.finfo(cast.dtype).max:.4g}) and became "
        f"{'inf' if first > 0 else '-inf'}; results will not be finite. Use smaller values, or a float64 network "
        "(inspect IN OUT --dtype float64)"
    )


@dataclass
class Description:
    """Everything `inspect` shows about the network."""

    structure: str
    in_features: int
    out_features: int
    bias_enabled: bool
    activation: str
    dtype: str
    weight: Any
    bias: Any
    weight_grad: Any
    bias_grad: Any
    requires_grad: bool
    parameters: int
    init_bound: float
    weight_min: float
    weight_max: float
    bias_min: float | None
    bias_max: float | None
    step: int
    optimizer: dict
    seed: int | None
    last_x: Any
    last_t: Any


def describe(net: Network) -> Description:
    weight, bias = net.weight(), net.bias()
    opt = net.data.get("optimizer") or {}
    return Description(
        structure=structure(net.layer),
        in_features=net.in_features,
        out_features=net.out_features,
        bias_enabled=bias is not None,
        activation=net.activation,
        dtype=net.data.get("dtype", "float32"),
        weight=weight,
        bias=bias,
        weight_grad=net.weight_grad(),
        bias_grad=net.bias_grad(),
        requires_grad=bool(net.linear.weight.requires_grad),
        parameters=sum(p.numel() for p in net.parameters()),
        init_bound=1 / math.sqrt(net.in_features),
        weight_min=float(weight.min()),
        weight_max=float(weight.max()),
        bias_min=None if bias is None else float(bias.min()),
        bias_max=None if bias is None else float(bias.max()),
        step=int(net.data.get("step", 0)),
        optimizer={"name": opt.get("name"), "settings": dict(opt.get("settings") or {})},
        seed=net.data.get("seed"),
        last_x=net.data.get("last_x"),
        last_t=net.data.get("last_t"),
    )


def cpu(tensor):
    """A detached CPU copy-free view (a copy only when the tensor is elsewhere)."""
    return tensor.detach().cpu()


def activate(name: str, y):
    import torch

    if name == "sigmoid":
        return torch.sigmoid(y)
    if name == "relu":
        return torch.relu(y)
    if name == "tanh":
        return torch.tanh(y)
    return y


def activation_derivative(name: str, y, o):
    """do/dy for the activation, written out by hand."""
    if name == "sigmoid":
        return o * (1 - o)
    if name == "relu":
        return (y > 0).to(y.dtype)
    if name == "tanh":
        return 1 - o * o
    return y.new_ones(y.shape)


def tolerance(dtype) -> tuple[float, float]:
    """(rtol, atol) as torch.testing uses them for this dtype."""
    import torch

    return (1e-7, 1e-7) if dtype == torch.float64 else (1.3e-6, 1e-5)


def compare(a, b) -> tuple[float, bool]:
    import torch

    if a.numel() == 0:
        return 0.0, True
    diff = (a - b).abs()
    finite = torch.isfinite(diff)
    worst = float(diff[finite].max()) if finite.any() else 0.0
    rtol, atol = tolerance(a.dtype)
    same = bool(torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))
    return worst, same


# --------------------------------------------------------------------------
# inputs and targets


def check_inputs(rows: list[list[float]], in_features: int, option: str = "--x") -> None:
    width = len(rows[0])
    if width != in_features:
        example = ",".join(["1"] * in_features)
        raise UsageError(
            f"{option}: the network takes in_features={in_features} values per sample, got {width}; "
            f"pass {in_features} comma-separated numbers like {option} {example}"
        )


def check_targets(rows: list[list[float]], out_features: int, samples: int, option: str = "--t") -> None:
    width = len(rows[0])
    if width != out_features:
        example = ",".join(["1"] * out_features)
        raise UsageError(
            f"{option}: the network has out_features={out_features} outputs, so each target needs "
            f"{out_features} values, got {width}; like {option} {example}"
        )
    if len(rows) != samples:
        raise UsageError(f"{option}: got {len(rows)} target rows for {samples} samples in --x; give one row per sample")


def remember_inputs(data: dict, x, t=None) -> None:
    data["last_x"] = cpu(x).clone()
    if t is not None:
        data["last_t"] = cpu(t).clone()


def stored_rows(data: dict, key: str) -> list[list[float]] | None:
    value = data.get(key)
    return None if value is None else value.tolist()


# --------------------------------------------------------------------------
# forward


@dataclass
class Trap:
    """What adding the bias without .view(OUT, 1) gives."""

    kind: str  # "values" (same shape, wrong numbers), "shape" (wrong shape) or "error"
    shape: tuple[int, ...] | None
    values: Any = None  # tensor, only when small enough to show
    message: str = ""


@dataclass
class ForwardResult:
    structure: str
    activation: str
    dtype: str
    device: str
    x: Any
    weight: Any
    bias: Any
    linear: Any
    output: Any
    manual: Any
    max_abs_diff: float
    match: bool
    exact: bool
    rtol: float
    atol: float
    grad_fn: str
    output_grad_fn: str | None
    trap: Trap | None
    built: bool = False
    notes: list[str] = field(default_factory=list)


def forward(net: Network, rows: list[list[float]]) -> ForwardResult:
    import torch

    check_inputs(rows, net.in_features)
    x = net.tensor(rows, "--x")
    linear = net.linear(x)
    output = activate(net.activation, linear)
    with torch.no_grad():
        weight = net.linear.weight
        bias = net.linear.bias
        product = torch.mm(weight, x.t())
        manual = product + bias.view(net.out_features, 1) if bias is not None else product
        worst, same = compare(manual.t(), linear.detach())
        exact = bool(torch.equal(manual.t(), linear.detach()))
        trap = bias_trap(product, bias)
    rtol, atol = tolerance(net.dtype)
    return ForwardResult(
        structure=structure(net.layer),
        activation=net.activation,
        dtype=net.data.get("dtype", "float32"),
        device=str(net.device),
        x=cpu(x),
        weight=net.weight(),
        bias=net.bias(),
        linear=cpu(linear),
        output=cpu(output),
        manual=cpu(manual),
        max_abs_diff=worst,
        match=same,
        exact=exact,
        rtol=rtol,
        atol=atol,
        grad_fn=type(linear.grad_fn).__name__ if linear.grad_fn is not None else "None",
        output_grad_fn=type(output.grad_fn).__name__ if output is not linear and output.grad_fn is not None else None,
        trap=trap,
        notes=list(net.notes),
    )


TRAP_SHOW_LIMIT = 4096


def bias_trap(product, bias) -> Trap | None:
    """`torch.mm(W, x.t()) + b`: broadcasts b along the wrong axis whenever OUT > 1."""
    if bias is None:
        return None
    out_features, batch = product.shape
    if out_features == 1:
        return None  # (1, B) + (1,) broadcasts to the right numbers
    # (OUT, B) + (OUT,): the bias lines up with the last dimension, B
    # (torch.broadcast_shapes would say the same, but imports sympy: 0.4 s)
    if batch not in (1, out_features):
        return Trap(
            kind="error",
            shape=None,
            message=(
                f"torch raises: the size of tensor a ({batch}) must match the size of tensor b ({out_features}) "
                "at non-singleton dimension 1"
            ),
        )
    shape = (out_features, out_features)
    values = None
    if shape[0] * shape[1] <= TRAP_SHOW_LIMIT:
        values = cpu(product + bias)
    kind = "values" if shape == tuple(product.shape) else "shape"
    return Trap(kind=kind, shape=shape, values=values)


# --------------------------------------------------------------------------
# loss and backward


def loss_value(name: str, output, target):
    import torch.nn.functional as F

    if name == "mse":
        return F.mse_loss(output, target)
    if name == "l1":
        return F.l1_loss(output, target)
    if name == "bce":
        return F.binary_cross_entropy(output, target)
    if name == "diff":
        return (target - output).mean()
    raise UsageError(f"--loss: expected one of {', '.join(LOSSES)}, got {name!r}")  # pragma: no cover


def check_bce(loss: str, activation: str, output, step: int | None = None) -> None:
    """torch's binary_cross_entropy refuses outputs outside [0, 1] (NaN too): say why, and the fix."""
    if loss != "bce":
        return
    inside = (output >= 0) & (output <= 1)
    if bool(inside.all()):
        return
    worst = float(output[~inside].flatten()[0])
    where = f"train step {step}: " if step is not None else ""
    if worst != worst:  # NaN
        fix = "a smaller --lr" if step is not None and step > 1 else "check --x and the weights ('linctl inspect')"
        raise UsageError(
            f"{where}--loss bce needs outputs in [0, 1], but an output is nan (activation {activation}): "
            f"NaN/inf weights or inf inputs make NaN; {fix}, or use another --loss"
        )
    raise UsageError(
        f"{where}--loss bce needs outputs in [0, 1], but an output is {worst:.4g} (activation {activation}); "
        "use --activation sigmoid, or another --loss"
    )


def check_bce_samples(loss: str, x, t, place) -> None:
    """--loss bce: targets in [0, 1] and no NaN input, as torch requires, named by `place(kind, row, col)`."""
    import torch

    if loss != "bce":
        return
    outside = ~((t >= 0) & (t <= 1))  # NaN is outside too
    if bool(outside.any()):
        row, col = (int(i) for i in outside.nonzero()[0])
        value = float(t[row, col])
        raise UsageError(
            f"{place('t', row, col)}: --loss bce needs targets in [0, 1], got {value:g}; "
            "give targets between 0 and 1, or use another --loss"
        )
    missing = torch.isnan(x)
    if bool(missing.any()):
        row, col = (int(i) for i in missing.nonzero()[0])
        raise UsageError(
            f"{place('x', row, col)}: --loss bce cannot take a NaN input (the output would be NaN, outside [0, 1]); "
            "give a number there, or use another --loss"
        )


def option_place(x_rows: int, t_rows: int):
    """Names a value typed with --x/--t, as parse_rows numbers the rows."""

    def place(kind: str, row: int, col: int) -> str:
        option, rows = ("--x", x_rows) if kind == "x" else ("--t", t_rows)
        return f"{option}{f' row {row + 1}' if rows > 1 else ''} value {col + 1}"

    return place


def loss_grad(name: str, output, target):
    """dL/do for the mean-reduced loss, written out by hand."""
    import torch

    n = output.numel()
    if name == "mse":
        return 2 * (output - target) / n
    if name == "l1":
        return torch.sign(output - target) / n
    if name == "bce":
        return (output - target) / torch.clamp(output * (1 - output), min=1e-12) / n
    return -torch.ones_like(output) / n  # diff: L = mean(t - o)


@dataclass
class BackwardResult:
    structure: str
    activation: str
    loss_name: str
    dtype: str
    x: Any
    t: Any
    linear: Any
    output: Any
    loss: float
    weight: Any
    bias: Any
    weight_grad_before: Any
    bias_grad_before: Any
    weight_grad_added: Any
    bias_grad_added: Any
    weight_grad: Any
    bias_grad: Any
    manual_weight_grad: Any
    manual_bias_grad: Any
    max_abs_diff: float
    match: bool
    weights_unchanged: bool
    notes: list[str] = field(default_factory=list)


def backward(net: Network, x_rows, t_rows, loss: str, activation: str | None = None) -> BackwardResult:
    """Forward, loss, loss.backward(): gradients accumulate, as in PyTorch."""
    import torch

    activation = activation or net.activation
    check_inputs(x_rows, net.in_features)
    check_targets(t_rows, net.out_features, len(x_rows))
    x = net.tensor(x_rows, "--x")
    t = net.tensor(t_rows, "--t")
    check_bce_samples(loss, x, t, option_place(len(x_rows), len(t_rows)))
    weight_before = net.linear.weight.detach().clone()
    bias_before = None if net.linear.bias is None else net.linear.bias.detach().clone()
    w_grad_before = net.weight_grad()
    b_grad_before = net.bias_grad()
    w_grad_before = None if w_grad_before is None else w_grad_before.clone()
    b_grad_before = None if b_grad_before is None else b_grad_before.clone()

    y = net.linear(x)
    o = activate(activation, y)
    check_bce(loss, activation, o.detach())
    value = loss_value(loss, o, t)
    value.backward()

    with torch.no_grad():
        dy = loss_grad(loss, o, t) * activation_derivative(activation, y, o)
        manual_w = dy.t().mm(x)
        manual_b = dy.sum(dim=0) if net.linear.bias is not None else None
    w_grad = net.weight_grad()
    b_grad = net.bias_grad()
    added_w = w_grad if w_grad_before is None else w_grad - w_grad_before
    added_b = None if b_grad is None else (b_grad if b_grad_before is None else b_grad - b_grad_before)
    # the grad this call added, recomputed alone, is compared with the hand result
    autograd_w, autograd_b = single_call_grads(net, x, t, loss, activation)
    worst, same = compare(cpu(manual_w), autograd_w)
    if manual_b is not None:
        worst_b, same_b = compare(cpu(manual_b), autograd_b)
        worst, same = max(worst, worst_b), same and same_b
    unchanged = bool(torch.equal(net.linear.weight.detach(), weight_before)) and (
        bias_before is None or bool(torch.equal(net.linear.bias.detach(), bias_before))
    )
    remember_inputs(net.data, x, t)
    return BackwardResult(
        structure=structure(net.layer),
        activation=activation,
        loss_name=loss,
        dtype=net.data.get("dtype", "float32"),
        x=cpu(x),
        t=cpu(t),
        linear=cpu(y),
        output=cpu(o),
        loss=value.item(),
        weight=net.weight(),
        bias=net.bias(),
        weight_grad_before=w_grad_before,
        bias_grad_before=b_grad_before,
        weight_grad_added=added_w,
        bias_grad_added=added_b,
        weight_grad=w_grad,
        bias_grad=b_grad,
        manual_weight_grad=cpu(manual_w),
        manual_bias_grad=None if manual_b is None else cpu(manual_b),
        max_abs_diff=worst,
        match=same,
        weights_unchanged=unchanged,
        notes=list(net.notes),
    )


def single_call_grads(net: Network, x, t, loss: str, activation: str):
    """Autograd's gradient of this loss alone, free of what was accumulated before."""
    import torch

    params = net.parameters()
    y = net.linear(x)
    o = activate(activation, y)
    grads = torch.autograd.grad(loss_value(loss, o, t), params)
    w = cpu(grads[0])
    b = cpu(grads[1]) if len(grads) > 1 else None
    return w, b


def zero_grad(net: Network) -> dict:
    """optimizer.zero_grad() as PyTorch does by default: gradients become None."""
    before = {"weight_grad": net.weight_grad(), "bias_grad": net.bias_grad()}
    for param in net.parameters():
        param.grad = None
    return before


def set_value(net: Network, name: str, index: tuple[int, ...], value: float) -> tuple[float, float]:
    """Edit one weight or bias entry by hand; returns (old, new)."""
    import torch

    param = net.linear.weight if name == "weight" else net.linear.bias
    if param is None:
        raise UsageError("bias[...]: this network has no bias (it was built with --no-bias)")
    shape = tuple(param.shape)
    if len(index) != len(shape):
        want = "ROW,COL" if name == "weight" else "ROW"
        raise UsageError(f"{name} has shape {shape}; index it as {name}[{want}], got {len(index)} index(es)")
    for i, (k, n) in enumerate(zip(index, shape, strict=True)):
        if not -n <= k < n:
            raise UsageError(
                f"{name}[{','.join(map(str, index))}]: index {k} is out of range for dimension {i} of size {n}"
            )
    with torch.no_grad():
        old = float(param[index])
        try:
            param[index] = value
        except RuntimeError:
            raise UsageError(f"{name}[{','.join(map(str, index))}]={value}: too large for {param.dtype}") from None
        new = float(param[index])
    return old, new


def set_note(name: str, index: tuple[int, ...], new: float) -> str | None:
    """A warning when a hand edit leaves a NaN or inf in the network."""
    if math.isfinite(new):
        return None
    where = f"{name}[{','.join(map(str, index))}]"
    return f"warning: {where} is now {new}; every output that uses it will not be finite (set it to a number to undo)"


def finite_or_warn(value: float) -> str | None:
    if not math.isfinite(value):
        return f"warning: the loss is {value}; check the inputs, targets and learning rate"
    return None


def movement(old: dict | None, new: dict) -> dict:
    """How far a change moved the parameters: the figures a history entry keeps."""
    figures: dict[str, float | None] = {}
    for key, label in (("0.weight", "weight"), ("0.bias", "bias")):
        after = new["params"].get(key)
        before = old["params"].get(key) if old else None
        same_shape = before is not None and after is not None and before.shape == after.shape
        figures[f"{label}_change"] = distance(after, before) if same_shape else None
        figures[f"{label}_norm"] = None if after is None else float(after.norm())
    grad = new["grads"].get("0.weight")
    figures["weight_grad_norm"] = None if grad is None else float(grad.norm())
    return figures


def distance(a, b, chunk: int = 1 << 20) -> float:
    """||a - b||, a row block at a time so a large layer needs no full-size temporary."""
    if a.numel() <= chunk:
        return float((a - b).norm())
    rows = max(1, chunk // max(1, a.shape[-1]))
    total = 0.0
    for start in range(0, a.shape[0], rows):
        total += float((a[start : start + rows] - b[start : start + rows]).double().pow(2).sum())
    return math.sqrt(total)


@dataclass
class Difference:
    """Two recorded states side by side."""

    weight_a: Any
    weight_b: Any
    bias_a: Any
    bias_b: Any
    weight_grad_a: Any
    weight_grad_b: Any
    bias_grad_a: Any
    bias_grad_b: Any
    weight_change: Any
    bias_change: Any
    max_abs_change: float | None
    step_a: int
    step_b: int


def difference(a: dict, b: dict) -> Difference:
    def get(data, group, key):
        value = data[group].get(key)
        return None if value is None else value.float() if value.dtype != b["params"]["0.weight"].dtype else value

    wa, wb = get(a, "params", "0.weight"), get(b, "params", "0.weight")
    ba, bb = get(a, "params", "0.bias"), get(b, "params", "0.bias")
    w_change = wb - wa if wa.shape == wb.shape else None
    b_change = bb - ba if ba is not None and bb is not None and ba.shape == bb.shape else None
    changes = [c.abs().max() for c in (w_change, b_change) if c is not None and c.numel()]
    return Difference(
        weight_a=wa,
        weight_b=wb,
        bias_a=ba,
        bias_b=bb,
        weight_grad_a=get(a, "grads", "0.weight"),
        weight_grad_b=get(b, "grads", "0.weight"),
        bias_grad_a=get(a, "grads", "0.bias"),
        bias_grad_b=get(b, "grads", "0.bias"),
        weight_change=w_change,
        bias_change=b_change,
        max_abs_change=float(max(changes)) if changes else None,
        step_a=int(a.get("step", 0)),
        step_b=int(b.get("step", 0)),
    )
