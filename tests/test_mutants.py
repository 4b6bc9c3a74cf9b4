"""The functions that compute numbers, called directly and checked against plain torch done here.

Written to catch the deliberate bugs a mutation run plants in registry, forward, backward,
settings and step (see docs/development.md): every hand derivative is compared with
autograd's, every bound of a setting is tried on both sides, and where linctl runs the same
torch operations as the code here the results are compared bit for bit with torch.equal.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from linctl.errors import UsageError
from linctl.model import backward as bw
from linctl.model import forward as fw
from linctl.model import registry
from linctl.model.network import Network, new_state
from linctl.model.spec import LayerSpec
from linctl.optim import settings as st
from linctl.optim import step as sp

# pre-activations of both signs, zero among them (relu's derivative there is 0, as torch's)
Z = torch.tensor([[-2.0, -0.5, 0.0], [0.25, 1.0, 3.0]], dtype=torch.float64)
OUTPUT = torch.tensor([[0.2, 0.7, 0.5], [0.9, 0.4, 0.05]], dtype=torch.float64)  # in (0, 1): every loss is defined
T = torch.tensor([[0.6, 0.1, 0.5], [1.0, 0.0, 0.3]], dtype=torch.float64)  # one o == t, so sign(0) is tried
PLAIN_ACTIVATIONS = {
    "none": lambda z: z,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "tanh": torch.tanh,
    "softmax": lambda z: torch.softmax(z, dim=1),
    "log_softmax": lambda z: torch.log_softmax(z, dim=1),
    "leaky_relu": F.leaky_relu,
    "gelu": F.gelu,
    "silu": F.silu,
    "softplus": F.softplus,
    "elu": F.elu,
}
PLAIN_LOSSES = {
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "bce": F.binary_cross_entropy,
    "diff": lambda o, t: (t - o).mean(),
    "cross_entropy": F.cross_entropy,  # T's rows as class probabilities (torch takes any row)
    "nll": lambda o, t: F.nll_loss(o, t[:, 0].long()),
}
# the targets each loss is tried on: class indices (one column) for nll
TARGETS = {"nll": torch.tensor([[2.0], [0.0]], dtype=torch.float64)}


# an upstream gradient dL/dh with no two entries alike, so a backward that ignores it or mixes entries fails
UPSTREAM = torch.tensor([[0.3, -1.2, 0.7], [2.0, 0.5, -0.4]], dtype=torch.float64)


def autograd_backward(f, z, upstream):
    """dL/dz for L with dL/dh = upstream: the vector-Jacobian product autograd computes."""
    z = z.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(f(z), z, grad_outputs=upstream)
    return grad


# ---- registry: forward is torch's own, the local backward written by hand equals autograd's


def test_the_registry_is_every_activation_and_loss_linctl_knows():
    assert set(registry.ACTIVATIONS) == set(PLAIN_ACTIVATIONS)
    assert set(registry.LOSSES) == set(PLAIN_LOSSES)


@pytest.mark.parametrize("name", list(PLAIN_ACTIVATIONS))
def test_activation_forward_is_torch_and_backward_is_autograds(name):
    act = registry.activation(name)
    assert act.name == name
    h = act.forward(Z)
    assert torch.equal(h, PLAIN_ACTIVATIONS[name](Z))
    by_hand = act.backward(Z, h, UPSTREAM)
    assert by_hand.shape == Z.shape
    assert_close(by_hand, autograd_backward(PLAIN_ACTIVATIONS[name], Z, UPSTREAM), rtol=1e-12, atol=1e-15)
    if act.module is not None:  # the module nn.Sequential holds computes the same
        assert torch.equal(getattr(torch.nn, act.module)(**dict(act.arguments))(Z), h)
    if act.output_range is not None:
        low, high = act.output_range
        wide = torch.linspace(-50, 50, 101, dtype=torch.float64).reshape(1, -1)  # one sample (softmax: its row)
        assert bool(((act.forward(wide) >= low) & (act.forward(wide) <= high)).all())


@pytest.mark.parametrize("name", list(PLAIN_LOSSES))
def test_loss_forward_is_torch_and_gradient_is_autograds(name):
    loss = registry.loss(name)
    assert loss.name == name
    t = TARGETS.get(name, T)
    assert torch.equal(loss.forward(OUTPUT, t), PLAIN_LOSSES[name](OUTPUT, t))
    assert torch.equal(bw.loss_value(name, OUTPUT, t), PLAIN_LOSSES[name](OUTPUT, t))
    o = OUTPUT.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(PLAIN_LOSSES[name](o, t), o)
    assert_close(loss.gradient(OUTPUT, t), expected, rtol=1e-12, atol=1e-15)


def test_bce_gradient_at_the_edges_is_torchs():
    """o = 0 or 1: torch divides by max(o·(1 - o), 1e-12), and so does the hand gradient."""
    o = torch.tensor([0.0, 1.0, 1.0, 0.0, 1e-13], dtype=torch.float64)
    t = torch.tensor([0.0, 1.0, 0.0, 1.0, 0.5], dtype=torch.float64)
    leaf = o.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad(F.binary_cross_entropy(leaf, t), leaf)
    assert_close(registry.loss("bce").gradient(o, t), expected, rtol=1e-6, atol=0)


# ---- forward: tolerance, compare, the by-hand W·x + b and the bias trap


def net_of(sizes, activations, weights=None, biases=None, *, bias=True, dtype="float32", seed=0) -> Network:
    specs = [
        LayerSpec(n_in, n_out, bias, act) for n_in, n_out, act in zip(sizes[:-1], sizes[1:], activations, strict=True)
    ]
    return Network(new_state(specs, dtype=dtype, seed=seed, weights=weights, biases=biases))


def plain_layers(net: Network) -> list[torch.nn.Linear]:
    """The same layers as plain torch.nn.Linear modules with copied parameters."""
    plain = []
    for linear in net.linears:
        copy = torch.nn.Linear(linear.in_features, linear.out_features, bias=linear.bias is not None, dtype=net.dtype)
        with torch.no_grad():
            copy.weight.copy_(linear.weight)
            if linear.bias is not None:
                copy.bias.copy_(linear.bias)
        plain.append(copy)
    return plain


def test_tolerance_is_torch_testings():
    assert fw.tolerance(torch.float64) == (1e-7, 1e-7)
    assert fw.tolerance(torch.float32) == (1.3e-6, 1e-5)


def test_compare_reports_the_largest_finite_difference_and_the_verdict():
    a = torch.tensor([1.0, 2.0, 3.0])
    assert fw.compare(a, a.clone()) == (0.0, True)
    worst, same = fw.compare(a, torch.tensor([1.0, 2.5, 2.75]))
    assert worst == 0.5 and same is False
    assert fw.compare(torch.tensor([]), torch.tensor([])) == (0.0, True)
    # NaN in the same place agrees; an infinite difference is left out of the largest one
    nan = torch.tensor([float("nan"), 1.0, float("inf")])
    assert fw.compare(nan, torch.tensor([float("nan"), 1.25, float("inf")])) == (0.25, False)
    assert fw.compare(nan, nan.clone()) == (0.0, True)
    assert fw.compare(torch.tensor([float("inf")]), torch.tensor([1.0])) == (0.0, False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compare_uses_the_tolerance_of_the_dtype_on_both_sides_of_the_bound(dtype):
    rtol, atol = fw.tolerance(dtype)
    b = torch.tensor([0.0, 100.0], dtype=dtype)
    inside = torch.tensor([atol * 0.9, 100.0 + 100.0 * rtol * 0.9], dtype=dtype)
    beyond_atol = torch.tensor([atol * 1.1, 100.0], dtype=dtype)
    beyond_rtol = torch.tensor([0.0, 100.0 + 100.0 * rtol * 1.5 + atol], dtype=dtype)
    assert fw.compare(inside, b)[1] is True
    assert fw.compare(beyond_atol, b)[1] is False
    assert fw.compare(beyond_rtol, b)[1] is False
    assert fw.compare(beyond_atol, b)[0] == float((beyond_atol - b).abs().max())


def test_bias_trap_for_each_shape():
    w = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    b = torch.tensor([10.0, 20.0, 30.0])
    one = torch.mm(w, torch.tensor([[1.0, -1.0]]).t())  # (3, 1)
    trap = fw.bias_trap(one, b)
    assert (trap.kind, trap.shape) == ("shape", (3, 3))
    assert torch.equal(trap.values, one + b)
    three = torch.mm(w, torch.ones(3, 2).t())  # (3, 3): same shape, wrong numbers
    trap = fw.bias_trap(three, b)
    assert (trap.kind, trap.shape) == ("values", (3, 3))
    assert torch.equal(trap.values, three + b)
    two = torch.mm(w, torch.ones(2, 2).t())  # (3, 2): torch refuses
    trap = fw.bias_trap(two, b)
    assert (trap.kind, trap.shape, trap.values) == ("error", None, None)
    assert trap.message == (
        "torch raises: the size of tensor a (2) must match the size of tensor b (3) at non-singleton dimension 1"
    )
    with pytest.raises(RuntimeError, match=r"size of tensor a \(2\) must match the size of tensor b \(3\)"):
        two + b
    assert fw.bias_trap(three, None) is None
    assert fw.bias_trap(torch.ones(1, 5), torch.ones(1)) is None  # OUT = 1: (1, B) + (1,) is right
    assert fw.bias_trap(torch.ones(2, 1), torch.ones(2)).kind == "shape"


def test_bias_trap_shows_values_up_to_the_limit():
    limit = math.isqrt(fw.TRAP_SHOW_LIMIT)
    assert limit * limit == fw.TRAP_SHOW_LIMIT
    at = fw.bias_trap(torch.ones(limit, 1), torch.arange(float(limit)))
    assert at.values is not None and torch.equal(at.values, torch.ones(limit, 1) + torch.arange(float(limit)))
    over = fw.bias_trap(torch.ones(limit + 1, 1), torch.arange(float(limit + 1)))
    assert (over.kind, over.shape, over.values) == ("shape", (limit + 1, limit + 1), None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_forward_layer_by_layer_equals_plain_torch(dtype):
    net = net_of([3, 4, 2], ["tanh", "sigmoid"], dtype=dtype, seed=3)
    x = torch.tensor([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]], dtype=net.dtype)
    plain = plain_layers(net)
    result = fw.forward(net, x)
    assert (result.structure, result.dtype, result.device) == (net.structure(), dtype, "cpu")
    assert (result.rtol, result.atol) == fw.tolerance(net.dtype)
    assert torch.equal(result.x, x)
    h = x
    for k, (layer, linear, act) in enumerate(zip(result.layers, plain, [torch.tanh, torch.sigmoid], strict=True)):
        z = linear(h)
        manual = torch.mm(linear.weight, h.t()) + linear.bias.view(linear.out_features, 1)
        assert layer.name == net.layer_names()[k]
        assert (layer.in_features, layer.out_features) == (linear.in_features, linear.out_features)
        assert layer.activation == ["tanh", "sigmoid"][k]
        assert torch.equal(layer.x, h.detach())
        assert torch.equal(layer.param("weight").value, linear.weight.detach())
        assert torch.equal(layer.param("bias").value, linear.bias.detach())
        assert layer.param("weight").grad is None and layer.param("bias").grad is None
        assert torch.equal(layer.linear, z.detach())
        assert torch.equal(layer.manual, manual.detach())
        assert layer.grad_fn == "AddmmBackward0"
        assert layer.output_grad_fn == ["TanhBackward0", "SigmoidBackward0"][k]
        worst, same = fw.compare(manual.t().detach(), z.detach())
        assert (layer.max_abs_diff, layer.match, layer.exact) == (worst, same, torch.equal(manual.t(), z))
        assert layer.match
        h = act(z)
        assert torch.equal(layer.output, h.detach())
    assert torch.equal(result.output, h.detach())
    assert result.match is True
    assert result.exact is all(layer.exact for layer in result.layers)
    assert result.max_abs_diff == max(layer.max_abs_diff for layer in result.layers)
    assert result.trap is not None and result.trap.kind == "error"  # first layer: OUT = 4, B = 2, torch refuses


def test_forward_result_properties_take_every_layer():
    def layer(match, exact, diff):
        return fw.LayerForward(
            "",
            {},
            1,
            1,
            "none",
            *([None] * 4),
            max_abs_diff=diff,
            match=match,
            exact=exact,
            grad_fn="",
            output_grad_fn=None,
        )

    result = fw.ForwardResult(
        "", "float32", "cpu", None, None, [layer(True, True, 0.5), layer(False, False, 0.25)], None, 0.0, 0.0
    )
    assert (result.match, result.exact, result.max_abs_diff) == (False, False, 0.5)
    result.layers.reverse()
    assert (result.match, result.exact, result.max_abs_diff) == (False, False, 0.5)
    result.layers = [layer(True, True, 0.0), layer(True, True, 0.0)]
    assert (result.match, result.exact, result.max_abs_diff) == (True, True, 0.0)


def test_forward_without_bias_and_with_stored_gradients():
    net = net_of([2, 2], ["none"], weights=[[[1.0, 2.0], [3.0, 4.0]]], bias=False)
    net.linears[0].weight.grad = torch.tensor([[0.5, 0.25], [1.0, 2.0]])
    x = torch.tensor([[1.0, -1.0]])
    result = fw.forward(net, x)
    layer = result.layers[0]
    assert list(layer.params) == ["weight"] and layer.param("bias") is None and result.trap is None
    assert torch.equal(layer.manual, torch.mm(net.linears[0].weight, x.t()).detach())
    assert torch.equal(layer.param("weight").grad, torch.tensor([[0.5, 0.25], [1.0, 2.0]]))
    assert layer.grad_fn == "MmBackward0" and layer.output_grad_fn is None
    assert fw.grad_fn_name(torch.ones(1)) == "None"


def test_forward_rows_checks_the_width_and_keeps_the_notes():
    net = net_of([2, 1], ["none"], weights=[[[1.0, 2.0]]], biases=[[0.5]])
    result = fw.forward_rows(net, [[1.0, 1e40]])  # 1e40 is inf in float32: noted
    assert torch.equal(result.x, torch.tensor([[1.0, 1e40]], dtype=torch.float32))
    assert result.notes and result.notes == net.notes
    with pytest.raises(UsageError, match="in_features=2"):
        fw.forward_rows(net, [[1.0, 2.0, 3.0]])


# ---- backward: autograd's gradients kept as they are, the chain rule by hand beside them

X = [[1.0, -2.0, 0.5], [0.25, 3.0, -1.0], [-0.5, 0.5, 2.0]]
T2 = [[0.2, 0.9], [0.7, 0.1], [0.4, 0.6]]


def plain_backward(plain, acts, x, t, loss):
    """Forward, loss and backward in plain torch; the pre-activations keep their gradients (= delta_k)."""
    h, zs = x, []
    for linear, act in zip(plain, acts, strict=True):
        z = linear(h)
        z.retain_grad()
        zs.append(z)
        h = PLAIN_ACTIVATIONS[act](z)
    value = PLAIN_LOSSES[loss](h, t)
    value.backward()
    return value, h, zs


@pytest.mark.parametrize(
    "acts, loss",
    [(["tanh", "sigmoid"], "bce"), (["relu", "none"], "mse"), (["sigmoid", "tanh"], "l1"), (["none", "relu"], "diff")],
)
def test_backward_equals_plain_torch_and_the_chain_rule_by_hand(acts, loss):
    net = net_of([3, 4, 2], acts, dtype="float64", seed=7)
    plain = plain_layers(net)
    x = torch.tensor(X, dtype=torch.float64)
    t = torch.tensor(T2, dtype=torch.float64)
    result = bw.backward(net, x, t, loss, acts)
    value, output, zs = plain_backward(plain, acts, x, t, loss)
    assert (result.structure, result.loss_name, result.dtype) == (net.structure(), loss, "float64")
    assert result.activations == acts
    assert result.loss == value.item()
    assert torch.equal(result.output, output.detach())
    assert torch.equal(result.x, x) and torch.equal(result.t, t)
    assert result.weights_unchanged is True
    names = net.layer_names()
    h = x
    for k, (layer, linear) in enumerate(zip(result.layers, plain, strict=True)):
        assert (layer.name, list(layer.params)) == (names[k], [f"{names[k]}.weight", f"{names[k]}.bias"])
        assert [(p.name, p.kind) for p in layer.params.values()] == [
            (f"{names[k]}.weight", "weight"),
            (f"{names[k]}.bias", "bias"),
        ]
        assert (layer.in_features, layer.out_features, layer.activation) == (
            linear.in_features,
            linear.out_features,
            acts[k],
        )
        assert torch.equal(layer.x, h.detach())
        assert torch.equal(layer.linear, zs[k].detach())
        h = PLAIN_ACTIVATIONS[acts[k]](zs[k])
        assert torch.equal(layer.output, h.detach())
        assert torch.equal(layer.param("weight").value, linear.weight.detach()) and torch.equal(
            layer.param("bias").value, linear.bias.detach()
        )
        # autograd's own gradients, bit for bit
        assert torch.equal(layer.param("weight").grad, linear.weight.grad) and torch.equal(
            layer.param("bias").grad, linear.bias.grad
        )
        assert layer.param("weight").grad_before is None and layer.param("bias").grad_before is None
        assert torch.equal(layer.param("weight").grad_added, linear.weight.grad)
        assert torch.equal(layer.param("bias").grad_added, linear.bias.grad)
        # by hand: delta_k = dL/dz_k, dL/dW_k = delta_kᵀ·h_{k-1}, dL/db_k = Σ delta_k
        assert_close(layer.delta, zs[k].grad, rtol=1e-12, atol=1e-15)
        assert_close(layer.param("weight").manual_grad, linear.weight.grad, rtol=1e-12, atol=1e-15)
        assert_close(layer.param("bias").manual_grad, linear.bias.grad, rtol=1e-12, atol=1e-15)
        worst_w, same_w = fw.compare(layer.param("weight").manual_grad, linear.weight.grad)
        worst_b, same_b = fw.compare(layer.param("bias").manual_grad, linear.bias.grad)
        assert layer.max_abs_diff == max(worst_w, worst_b) and layer.match is (same_w and same_b) is True
    assert result.match is True
    assert result.max_abs_diff == max(layer.max_abs_diff for layer in result.layers)
    assert result.max_abs_diff < 1e-12


def test_backprop_alone_is_the_chain_rule():
    net = net_of([3, 4, 2], ["sigmoid", "tanh"], dtype="float64", seed=2)
    plain = plain_layers(net)
    x = torch.tensor(X, dtype=torch.float64)
    t = torch.tensor(T2, dtype=torch.float64)
    zs, hs = net.run(x)
    hand = bw.backprop(net, x, t, "mse", ["sigmoid", "tanh"], zs, hs)
    _, _, plain_zs = plain_backward(plain, ["sigmoid", "tanh"], x, t, "mse")
    for (grads, delta), linear, z in zip(hand, plain, plain_zs, strict=True):
        assert list(grads) == ["weight", "bias"]
        assert_close(delta, z.grad, rtol=1e-12, atol=1e-15)
        assert_close(grads["weight"], linear.weight.grad, rtol=1e-12, atol=1e-15)
        assert_close(grads["bias"], linear.bias.grad, rtol=1e-12, atol=1e-15)
        assert not delta.requires_grad


def test_gradients_add_up_and_the_fresh_ones_are_compared():
    net = net_of([3, 2], ["sigmoid"], dtype="float64", seed=1)
    plain = plain_layers(net)[0]
    x = torch.tensor(X, dtype=torch.float64)
    t = torch.tensor(T2, dtype=torch.float64)
    bw.backward(net, x, t, "mse", ["sigmoid"])
    F.mse_loss(torch.sigmoid(plain(x)), t).backward()
    once_w, once_b = plain.weight.grad.clone(), plain.bias.grad.clone()
    layer = bw.backward(net, x, t, "mse", ["sigmoid"]).layers[0]
    F.mse_loss(torch.sigmoid(plain(x)), t).backward()
    assert (layer.name, list(layer.params)) == ("", ["weight", "bias"])
    assert [(p.name, p.kind) for p in layer.params.values()] == [("weight", "weight"), ("bias", "bias")]
    assert torch.equal(layer.param("weight").grad_before, once_w) and torch.equal(
        layer.param("bias").grad_before, once_b
    )
    assert torch.equal(layer.param("weight").grad, plain.weight.grad) and torch.equal(
        layer.param("bias").grad, plain.bias.grad
    )
    assert torch.equal(layer.param("weight").grad_added, plain.weight.grad - once_w)
    assert torch.equal(layer.param("bias").grad_added, plain.bias.grad - once_b)
    # the hand gradient is one call's: it matches the fresh gradient, not the accumulated one
    assert layer.match is True and layer.max_abs_diff < 1e-12
    assert_close(layer.param("weight").manual_grad, once_w, rtol=1e-12, atol=1e-15)
    assert_close(layer.param("bias").manual_grad, once_b, rtol=1e-12, atol=1e-15)
    fresh = bw.single_call_grads(net, x, t, "mse", ["sigmoid"])
    assert list(fresh) == ["weight", "bias"]
    assert torch.equal(fresh["weight"], once_w) and torch.equal(fresh["bias"], once_b)


def test_backward_without_bias_and_a_wrong_hand_gradient_is_reported():
    net = net_of([3, 2], ["none"], dtype="float64", bias=False, seed=4)
    x = torch.tensor(X, dtype=torch.float64)
    t = torch.tensor(T2, dtype=torch.float64)
    result = bw.backward(net, x, t, "l1", ["none"])
    layer = result.layers[0]
    assert list(layer.params) == ["weight"] and layer.param("bias") is None
    assert layer.match is True


def test_backward_result_properties_take_every_layer():
    def layer(match, diff):
        return bw.LayerGrads("", {}, 1, 1, "none", *([None] * 4), max_abs_diff=diff, match=match)

    result = bw.BackwardResult(
        "", ["relu", "tanh"], "mse", "float32", None, None, None, 0.0, [layer(True, 0.5), layer(False, 0.25)], True
    )
    assert (result.match, result.max_abs_diff) == (False, 0.5)
    result.layers.reverse()
    assert (result.match, result.max_abs_diff) == (False, 0.5)
    result.layers = [layer(True, 0.0)]
    assert (result.match, result.max_abs_diff) == (True, 0.0)


def test_backward_rows_remembers_the_samples_and_refuses_bad_targets():
    net = net_of([3, 2], ["sigmoid"], seed=0)
    result = bw.backward_rows(net, X, T2, "bce", ["sigmoid"])
    assert torch.equal(net.data["last_x"], torch.tensor(X)) and torch.equal(net.data["last_t"], torch.tensor(T2))
    assert result.notes == []
    with pytest.raises(UsageError, match="--t"):
        bw.backward_rows(net, X, [[2.0, 0.5]] * 3, "bce", ["sigmoid"])
    with pytest.raises(UsageError, match="in_features=3"):
        bw.backward_rows(net, [[1.0, 2.0]], [[0.5, 0.5]], "mse", ["sigmoid"])


def test_zero_grad_returns_the_gradients_before_and_leaves_none():
    net = net_of([3, 2], ["none"], seed=0)
    bw.backward(net, torch.tensor(X), torch.tensor(T2), "mse", ["none"])
    grads = {name: p.grad.clone() for name, p in net.named_params()}
    before = bw.zero_grad(net)
    assert before.keys() == grads.keys()
    assert all(torch.equal(before[name], grads[name]) for name in grads)
    assert all(p.grad is None for p in net.parameters())


# ---- optimizer settings: torch's defaults, every bound on both sides, what carries over


def plan(saved=None, name=None, reset=False, **given):
    return st.resolve(saved, name, given, reset=reset)


def refused(text: str, **settings):
    full = {"lr": 0.1, **settings}
    with pytest.raises(UsageError) as caught:
        st.validate(full)
    assert str(caught.value) == text
    return caught


@pytest.mark.parametrize("name", st.OPTIMIZERS)
def test_defaults_are_torchs(name):
    cls = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "rmsprop": torch.optim.RMSprop,
    }[name]
    defaults = cls([torch.nn.Parameter(torch.ones(1))], lr=0.1).defaults
    resolved = plan(None, name, lr=0.1)
    assert resolved.name == name and resolved.keep_state is False and resolved.notes == []
    assert list(resolved.settings) == ["lr", *st.DEFAULTS[name]]
    for key, value in resolved.settings.items():
        assert value == defaults[key], key


@pytest.mark.parametrize(
    "settings",
    [
        {"lr": 0.0},
        {"momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0},
        {"momentum": 0.999, "dampening": 1.0},
        {"momentum": 0.9, "dampening": 0.0, "nesterov": True},
        {"eps": 0.0, "betas": (0.0, 0.0)},
        {"betas": (0.999, 0.9999)},
        {"alpha": 0.0},
        {"alpha": 0.999},
        {"nesterov": False, "momentum": 0.0},
    ],
)
def test_values_on_the_bounds_are_accepted(settings):
    st.validate({"lr": 0.1, **settings})


def test_values_beyond_the_bounds_are_refused_as_torch_words_them():
    refused("--lr: Invalid learning rate: -1e-09 (must be >= 0)", lr=-1e-9)
    refused("--momentum: Invalid momentum value: 1.0 (must be in [0, 1))", momentum=1.0)
    refused("--momentum: Invalid momentum value: -0.001 (must be in [0, 1))", momentum=-0.001)
    refused("--dampening: Invalid dampening value: 1.001 (must be in [0, 1])", dampening=1.001)
    refused("--dampening: Invalid dampening value: -0.5 (must be in [0, 1])", dampening=-0.5)
    refused("--weight-decay: Invalid weight_decay value: -0.01 (must be >= 0)", weight_decay=-0.01)
    refused("--eps: Invalid epsilon value: -1e-08 (must be >= 0)", eps=-1e-8)
    refused("--alpha: Invalid alpha value: 1.0 (must be in [0, 1))", alpha=1.0)
    refused("--alpha: Invalid alpha value: -0.1 (must be in [0, 1))", alpha=-0.1)
    refused("--betas: Invalid beta parameter at index 0: 1.0 (must be in [0, 1))", betas=(1.0, 0.5))
    refused("--betas: Invalid beta parameter at index 1: 1.0 (must be in [0, 1))", betas=(0.5, 1.0))
    refused("--betas: Invalid beta parameter at index 0: -0.1 (must be in [0, 1))", betas=(-0.1, 0.5))
    refused("--betas: Invalid beta parameter at index 1: -0.1 (must be in [0, 1))", betas=(0.5, -0.1))


def test_torch_refuses_the_same_bounds():
    p = [torch.nn.Parameter(torch.ones(1))]
    for make in [
        lambda: torch.optim.SGD(p, lr=-1e-9),
        lambda: torch.optim.SGD(p, lr=0.1, momentum=-0.001),
        lambda: torch.optim.SGD(p, lr=0.1, weight_decay=-0.01),
        lambda: torch.optim.Adam(p, lr=0.1, eps=-1e-8),
        lambda: torch.optim.Adam(p, lr=0.1, betas=(1.0, 0.5)),
        lambda: torch.optim.Adam(p, lr=0.1, betas=(0.5, 1.0)),
        lambda: torch.optim.RMSprop(p, lr=0.1, alpha=-0.1),
        lambda: torch.optim.SGD(p, lr=0.1, nesterov=True),
        lambda: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5, nesterov=True),
    ]:
        with pytest.raises(ValueError):
            make()


@pytest.mark.parametrize(
    "settings",
    [
        {"nesterov": True},
        {"nesterov": True, "momentum": 0.0},
        {"nesterov": True, "momentum": 0.9, "dampening": 0.5},
        {"nesterov": True, "momentum": 0.9, "dampening": 1e-9},
    ],
)
def test_nesterov_needs_momentum_and_no_dampening(settings):
    refused("--nesterov: Nesterov momentum requires a momentum and zero dampening; add --momentum 0.9", **settings)


@pytest.mark.parametrize(
    "key, value, text",
    [
        ("lr", math.inf, "--lr: Invalid learning rate: inf (must be a finite number)"),
        ("eps", math.nan, "--eps: Invalid epsilon value: nan (must be a finite number)"),
        ("momentum", -math.inf, "--momentum: Invalid momentum value: -inf (must be a finite number)"),
        ("weight_decay", math.inf, "--weight-decay: Invalid weight_decay value: inf (must be a finite number)"),
        ("betas", (0.9, math.nan), "--betas: Invalid beta parameter: nan (must be a finite number)"),
    ],
)
def test_values_that_are_not_finite_are_refused(key, value, text):
    settings = {"lr": 0.1, key: value}
    with pytest.raises(UsageError) as caught:
        st.validate(settings)
    assert str(caught.value) == text


def test_resolve_needs_a_learning_rate_once_and_keeps_it():
    with pytest.raises(UsageError, match=r"^--lr: no learning rate yet; pass one, like --lr 0.05$"):
        plan(None, None)
    first = plan(None, None, lr=0.5, momentum=0.9)
    assert first.name == "sgd"
    assert first.settings == {"lr": 0.5, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}
    saved = {"name": "sgd", "settings": first.settings, "state": None}
    again = plan(saved, None)
    assert again.settings == first.settings and again.notes == [] and again.keep_state is False
    # switching the kind keeps the learning rate but not the other settings
    adam = plan(saved, "ADAM")
    assert adam.name == "adam"
    assert adam.settings == {"lr": 0.5, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0, "amsgrad": False}
    assert adam.notes == ["optimizer changed from sgd to adam: the old optimizer's state was reset"]
    assert plan({"name": "adam", "settings": {"lr": 0.5}}, None).name == "adam"


def test_resolve_refuses_unknown_optimizers_and_settings_of_another():
    with pytest.raises(UsageError) as caught:
        plan(None, "lbfgs", lr=0.1)
    assert str(caught.value) == "--optimizer: expected one of sgd, adam, adamw, rmsprop, got 'lbfgs'"
    with pytest.raises(UsageError) as caught:
        plan(None, "sgd", lr=0.1, eps=1e-6)
    assert str(caught.value) == "--eps applies to adam/adamw/rmsprop, not sgd; drop it or pick another --optimizer"
    with pytest.raises(UsageError) as caught:
        plan(None, "adam", lr=0.1, momentum=0.5)
    assert str(caught.value) == "--momentum applies to sgd/rmsprop, not adam; drop it or pick another --optimizer"
    st.resolve(None, "adam", {"lr": 0.1, "momentum": None})  # an option not given is None: no complaint


def test_resolve_makes_betas_floats_and_validates():
    resolved = plan(None, "adam", lr=1, betas=[0, 0.5])
    assert resolved.settings["betas"] == (0.0, 0.5)
    assert all(type(b) is float for b in resolved.settings["betas"])
    assert type(resolved.settings["betas"]) is tuple
    with pytest.raises(UsageError, match="index 1"):
        plan(None, "adam", lr=1, betas=[0.5, 1])


ADAM_STATE = {"state": {0: {"step": 1, "exp_avg": 0, "exp_avg_sq": 0}}, "param_groups": []}


def test_resolve_keeps_the_state_unless_reset_and_says_what_changed():
    settings = plan(None, "adam", lr=0.01).settings
    saved = {"name": "adam", "settings": settings, "state": ADAM_STATE}
    kept = plan(saved, None, lr=0.02, betas=(0.8, 0.999))
    assert kept.keep_state is True
    assert kept.settings["lr"] == 0.02 and kept.settings["betas"] == (0.8, 0.999)
    assert kept.notes == [
        "optimizer settings changed (--lr 0.01 -> 0.02, --betas 0.9,0.999 -> 0.8,0.999): the new values apply "
        "from this step, its state (momentum, moments, step count) carries on"
    ]
    reset = plan(saved, "adam", reset=True, lr=0.02)
    assert reset.keep_state is False
    assert reset.notes == [
        "--reset-optimizer: the stored adam state (step count, momentum, moments) was dropped; "
        "the optimizer starts afresh from this step",
        "optimizer settings changed (--lr 0.01 -> 0.02): the new values apply from this step",
    ]
    nothing = plan({"name": "adam", "settings": settings, "state": None}, None, reset=True)
    assert nothing.keep_state is False
    assert nothing.notes == ["--reset-optimizer: there was no stored optimizer state to drop"]
    assert plan(saved, None).notes == [] and plan(saved, None).keep_state is True
    other = plan(saved, "sgd", reset=True, lr=0.1)
    assert other.keep_state is False
    assert other.notes == ["optimizer changed from adam to sgd: the old optimizer's state was reset"]


@pytest.mark.parametrize(
    "name, setting, value, buffer, what",
    [
        ("adam", "amsgrad", True, "max_exp_avg_sq", "AMSGrad"),
        ("adamw", "amsgrad", True, "max_exp_avg_sq", "AMSGrad"),
        ("rmsprop", "centered", True, "grad_avg", "centered RMSprop"),
        ("rmsprop", "momentum", 0.5, "momentum_buffer", "momentum"),
    ],
)
def test_a_buffer_torch_lacks_is_refused_and_one_it_has_is_kept(name, setting, value, buffer, what):
    settings = {**st.DEFAULTS[name], "lr": 0.1, setting: value}
    stepped = {"state": {0: {"step": 1}, 1: {"step": 1, buffer: 0}}}
    with pytest.raises(UsageError) as caught:
        st.check_buffers(name, settings, stepped)
    option = st.OPTION_NAMES[setting] + (" 0.5" if setting == "momentum" else "")
    assert str(caught.value) == (
        f"{option}: the stored {name} optimizer has stepped without {what}, so its state has no {buffer} "
        f"and torch cannot turn {what} on midway; add --reset-optimizer to start the optimizer afresh"
    )
    st.check_buffers(name, settings, {"state": {0: {"step": 1, buffer: 0}, 1: {}}})  # empty entry: not stepped
    st.check_buffers(name, settings, {"state": {}})
    st.check_buffers(name, settings, {})
    st.check_buffers(name, settings, None)
    st.check_buffers(name, {**settings, setting: st.DEFAULTS[name][setting]}, stepped)  # off: nothing needed
    other = "sgd" if name != "sgd" else "adam"
    st.check_buffers(other, settings, stepped)
    # through resolve: refused when the state is kept, fine when it is reset
    saved = {"name": name, "settings": {**st.DEFAULTS[name], "lr": 0.1}, "state": stepped}
    with pytest.raises(UsageError, match="--reset-optimizer"):
        st.resolve(saved, None, {setting: value})
    assert st.resolve(saved, None, {setting: value}, reset=True).settings[setting] == value


def test_rmsprop_momentum_zero_needs_no_buffer():
    settings = {**st.DEFAULTS["rmsprop"], "lr": 0.1, "momentum": 0.0}
    st.check_buffers("rmsprop", settings, {"state": {0: {"step": 1}}})


def test_fmt_setting():
    assert st.fmt_setting((0.9, 0.999)) == "0.9,0.999"
    assert st.fmt_setting(1e-08) == "1e-08"
    assert st.fmt_setting(0.5) == "0.5"
    assert st.fmt_setting(True) == "True"
    assert st.fmt_setting(3) == "3"
    assert st.fmt_setting(None) == "None"


@pytest.mark.parametrize("value, wanted", [(None, False), ("", False), ("0", False), ("1", True)])
def test_plain_step_wanted(monkeypatch, value, wanted):
    if value is None:
        monkeypatch.delenv("LINCTL_PLAIN_STEP", raising=False)
    else:
        monkeypatch.setenv("LINCTL_PLAIN_STEP", value)
    assert st.plain_step_wanted() is wanted


def test_plain_step_refuses_other_values(monkeypatch):
    monkeypatch.setenv("LINCTL_PLAIN_STEP", "yes")
    message = "LINCTL_PLAIN_STEP: expected 1 (use optimizer.step() as it is) or 0 or unset (the fast step), got 'yes'"
    with pytest.raises(UsageError) as caught:
        st.plain_step_wanted()
    assert str(caught.value) == message
    with pytest.raises(UsageError) as caught:
        plan(None, "sgd", lr=0.1)  # refused before any work
    assert str(caught.value) == message


# ---- step: optimizer.step() on the stored gradients, plain SGD checked by hand


def sgd_plan(lr=0.1, **settings):
    return st.resolve(None, "sgd", {"lr": lr, **settings})


def test_is_plain_sgd():
    assert sp.is_plain_sgd(sgd_plan()) is True
    assert sp.is_plain_sgd(sgd_plan(momentum=0.5)) is False
    assert sp.is_plain_sgd(sgd_plan(weight_decay=0.5)) is False
    assert sp.is_plain_sgd(sgd_plan(dampening=0.5)) is True  # no momentum: dampening changes nothing
    assert sp.is_plain_sgd(st.resolve(None, "adam", {"lr": 0.1})) is False


@pytest.mark.parametrize("bias", [True, False])
def test_plain_sgd_step_is_w_minus_lr_grad_exactly(bias):
    net = net_of([3, 4, 2], ["tanh", "none"], bias=bias, seed=5)
    plain = plain_layers(net)
    x, t = torch.tensor(X), torch.tensor(T2)
    bw.backward(net, x, t, "mse", ["tanh", "none"])
    F.mse_loss(plain[1](torch.tanh(plain[0](x))), t).backward()
    before = [
        (linear.weight.detach().clone(), None if linear.bias is None else linear.bias.detach().clone())
        for linear in plain
    ]
    torch.optim.SGD([p for linear in plain for p in linear.parameters()], lr=0.25).step()
    net.data["step"] = 3
    result = sp.step(net, sgd_plan(0.25))
    assert (result.optimizer, result.lr, result.step) == ("sgd", 0.25, 4)
    assert result.settings == sgd_plan(0.25).settings and result.notes == []
    assert result.hand_match is True and result.hand_max_abs_diff == 0.0
    names = net.layer_names()
    for k, (layer, linear, (w0, b0)) in enumerate(zip(result.layers, plain, before, strict=True)):
        assert (layer.name, layer.in_features, layer.out_features) == (
            names[k],
            linear.in_features,
            linear.out_features,
        )
        assert layer.activation == ["tanh", "none"][k]
        assert torch.equal(layer.param("weight").before, w0) and torch.equal(
            layer.param("weight").value, linear.weight.detach()
        )
        assert torch.equal(layer.param("weight").grad, linear.weight.grad)
        assert torch.equal(layer.param("weight").change, linear.weight.detach() - w0)
        assert torch.equal(layer.param("weight").hand, w0 - 0.25 * linear.weight.grad)
        if bias:
            assert torch.equal(layer.param("bias").before, b0) and torch.equal(
                layer.param("bias").value, linear.bias.detach()
            )
            assert torch.equal(layer.param("bias").grad, linear.bias.grad)
            assert torch.equal(layer.param("bias").change, linear.bias.detach() - b0)
            assert torch.equal(layer.param("bias").hand, b0 - 0.25 * linear.bias.grad)
        else:
            assert list(layer.params) == [f"{names[k]}.weight"] and layer.param("bias") is None
    # the gradients stay, as in PyTorch
    assert all(p.grad is not None for p in net.parameters())


def test_a_step_that_is_not_plain_sgd_has_no_hand_check():
    net = net_of([3, 2], ["none"], seed=5)
    plain = plain_layers(net)[0]
    x, t = torch.tensor(X), torch.tensor(T2)
    bw.backward(net, x, t, "mse", ["none"])
    F.mse_loss(plain(x), t).backward()
    torch.optim.SGD(plain.parameters(), lr=0.1, momentum=0.9).step()
    result = sp.step(net, sgd_plan(0.1, momentum=0.9))
    assert result.step == 1 and result.hand_match is None and result.hand_max_abs_diff is None
    layer = result.layers[0]
    assert layer.param("weight").hand is None and layer.param("bias").hand is None
    assert torch.equal(layer.param("weight").value, plain.weight.detach()) and torch.equal(
        layer.param("bias").value, plain.bias.detach()
    )


def test_layer_steps_reports_the_worst_difference_and_any_mismatch():
    net = net_of([2, 2, 1], ["none", "none"], seed=0)
    for linear in net.linears:
        linear.weight.grad = torch.ones_like(linear.weight)
        linear.bias.grad = torch.ones_like(linear.bias)
    before = sp.snapshot(net)
    assert all(
        torch.equal(w, lin.weight) and torch.equal(b, lin.bias) for (w, b), lin in zip(before, net.linears, strict=True)
    )
    with torch.no_grad():  # an update that is not W - lr·grad: layer 1's bias by 0.5, layer 2's weight by 0.25
        net.linears[0].bias -= 0.5
        net.linears[1].weight -= 0.25
    layers, worst, same = sp.layer_steps(net, before, 0.0)
    assert (worst, same) == (0.5, False)
    assert torch.equal(layers[0].param("bias").hand, before[0][1]) and torch.equal(
        layers[0].param("bias").change, torch.full((2,), -0.5)
    )
    with torch.no_grad():
        net.linears[0].bias.copy_(before[0][1])
    assert sp.layer_steps(net, before, 0.0)[1:] == (0.25, False)
    with torch.no_grad():
        net.linears[1].weight.copy_(before[1][0])
    assert sp.layer_steps(net, before, 0.0)[1:] == (0.0, True)
    assert sp.layer_steps(net, before, None)[1:] == (None, None)
    for p in net.parameters():
        p.grad = None
    layers, worst, same = sp.layer_steps(net, before, 0.1)
    assert (
        (worst, same) == (None, None)
        and layers[0].param("weight").hand is None
        and layers[0].param("weight").grad is None
    )


def test_step_without_gradients_is_refused():
    from linctl.errors import LinctlError

    net = net_of([3, 2], ["none"], seed=5)
    with pytest.raises(LinctlError, match="no gradients to step on"):
        sp.step(net, sgd_plan())
    assert net.data["step"] == 0


# ---- what the first mutation run left standing


def test_nesterov_without_a_dampening_setting_counts_it_as_zero():
    st.validate({"lr": 0.1, "momentum": 0.9, "nesterov": True})
    refused(
        "--nesterov: Nesterov momentum requires a momentum and zero dampening; add --momentum 0.9",
        nesterov=True,
        dampening=0.0,
    )


def test_the_activations_given_are_the_ones_used_not_the_stored_ones():
    """backward(net, ..., activations): the given list drives the forward, the fresh gradient and the hand one."""
    net = net_of([3, 2], ["none"], dtype="float64", seed=6)
    plain = plain_layers(net)[0]
    x = torch.tensor(X, dtype=torch.float64)
    t = torch.tensor(T2, dtype=torch.float64)
    result = bw.backward(net, x, t, "mse", ["sigmoid"])
    F.mse_loss(torch.sigmoid(plain(x)), t).backward()
    assert torch.equal(result.output, torch.sigmoid(plain(x)).detach())
    layer = result.layers[0]
    assert torch.equal(layer.param("weight").grad, plain.weight.grad)
    assert layer.match is True and layer.max_abs_diff < 1e-12
    fresh = bw.single_call_grads(net, x, t, "mse", ["sigmoid"])
    assert torch.equal(fresh["weight"], plain.weight.grad) and torch.equal(fresh["bias"], plain.bias.grad)


def test_three_layers_each_take_the_previous_output():
    acts = ["tanh", "relu", "sigmoid"]
    net = net_of([3, 4, 3, 2], acts, dtype="float64", seed=8)
    plain = plain_layers(net)
    x = torch.tensor(X, dtype=torch.float64)
    t = torch.tensor(T2, dtype=torch.float64)
    result = bw.backward(net, x, t, "bce", acts)
    _, output, zs = plain_backward(plain, acts, x, t, "bce")
    assert torch.equal(result.output, output.detach())
    inputs = [x, *[PLAIN_ACTIVATIONS[a](z).detach() for a, z in zip(acts, zs, strict=True)][:-1]]
    for layer, linear, h, z in zip(result.layers, plain, inputs, zs, strict=True):
        assert torch.equal(layer.x, h)
        assert torch.equal(layer.param("weight").grad, linear.weight.grad)
        assert_close(layer.delta, z.grad, rtol=1e-12, atol=1e-15)
        assert_close(layer.param("weight").manual_grad, linear.weight.grad, rtol=1e-12, atol=1e-15)
    assert result.match is True


def test_a_wrong_hand_derivative_is_reported_even_when_only_the_bias_shows_it(monkeypatch):
    """With x = 0 every weight gradient is 0 whatever delta is: only the bias gradient can disagree."""
    import dataclasses

    wrong = dataclasses.replace(registry.ACTIVATIONS["sigmoid"], backward=lambda z, h, g: g * h)  # not h·(1 - h)
    monkeypatch.setitem(registry.ACTIVATIONS, "sigmoid", wrong)
    net = net_of([3, 2], ["sigmoid"], dtype="float64", seed=6)
    x = torch.zeros(3, 3, dtype=torch.float64)
    t = torch.tensor(T2, dtype=torch.float64)
    layer = bw.backward(net, x, t, "mse", ["sigmoid"]).layers[0]
    assert torch.equal(layer.param("weight").manual_grad, torch.zeros(2, 3, dtype=torch.float64))
    assert torch.equal(layer.param("weight").grad, torch.zeros(2, 3, dtype=torch.float64))
    assert layer.match is False
    assert layer.max_abs_diff == float((layer.param("bias").manual_grad - layer.param("bias").grad).abs().max()) > 0


def test_bce_on_outputs_outside_0_1_is_refused_naming_the_activation():
    net = net_of([2, 1], ["none"], weights=[[[1.0, 1.0]]], biases=[[0.0]])
    with pytest.raises(UsageError) as caught:
        bw.backward(net, torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0]]), "bce", ["none"])
    assert str(caught.value) == (
        "--loss bce needs outputs in [0, 1], but an output is 2 (activation none); "
        "use --activation sigmoid, or another --loss"
    )


def test_backward_rows_names_the_option_of_a_value_it_notes_or_refuses():
    net = net_of([2, 1], ["sigmoid"], weights=[[[0.0, 0.0]]], biases=[[0.0]])
    result = bw.backward_rows(net, [[1e40, 1.0]], [[1e40]], "mse", ["sigmoid"])
    assert len(result.notes) == 2
    assert result.notes[0].startswith("warning: --x: 1e+40 is beyond float32's range")
    assert result.notes[1].startswith("warning: --t: 1e+40 is beyond float32's range")
    with pytest.raises(UsageError) as caught:
        bw.backward_rows(net, [[1.0, 1.0], [1.0, math.nan]], [[0.5], [0.5]], "bce", ["sigmoid"])
    assert str(caught.value).startswith("--x row 2 value 2: --loss bce cannot take a NaN input")
    with pytest.raises(UsageError) as caught:
        bw.backward_rows(net, [[1.0, 1.0]], [[1.5]], "bce", ["sigmoid"])
    assert str(caught.value).startswith("--t value 1: --loss bce needs targets in [0, 1], got 1.5")


def test_forward_rows_names_the_option_in_its_note():
    net = net_of([2, 1], ["none"], weights=[[[1.0, 2.0]]], biases=[[0.5]])
    (note,) = fw.forward_rows(net, [[1.0, -1e40]]).notes
    assert note.startswith("warning: --x: -1e+40 is beyond float32's range")


def test_forward_shows_the_stored_bias_gradient():
    net = net_of([2, 2], ["none"], weights=[[[1.0, 2.0], [3.0, 4.0]]], biases=[[0.5, -0.5]])
    net.linears[0].weight.grad = torch.tensor([[0.5, 0.25], [1.0, 2.0]])
    net.linears[0].bias.grad = torch.tensor([0.125, -4.0])
    layer = fw.forward(net, torch.tensor([[1.0, -1.0]])).layers[0]
    assert torch.equal(layer.param("weight").grad, torch.tensor([[0.5, 0.25], [1.0, 2.0]]))
    assert torch.equal(layer.param("bias").grad, torch.tensor([0.125, -4.0]))


def test_layer_steps_with_a_weight_gradient_and_no_bias_gradient():
    net = net_of([2, 1], ["none"], weights=[[[1.0, 2.0]]], biases=[[0.5]])
    net.linears[0].weight.grad = torch.tensor([[1.0, -1.0]])
    before = sp.snapshot(net)
    with torch.no_grad():
        net.linears[0].weight -= 0.5 * net.linears[0].weight.grad
    layers, worst, same = sp.layer_steps(net, before, 0.5)
    assert (worst, same) == (0.0, True)
    assert (
        torch.equal(layers[0].param("weight").hand, torch.tensor([[0.5, 2.5]])) and layers[0].param("bias").hand is None
    )


def test_momentum_carries_over_between_steps_as_in_one_loop():
    net = net_of([3, 2], ["none"], seed=9)
    plain = plain_layers(net)[0]
    x, t = torch.tensor(X), torch.tensor(T2)
    opt = torch.optim.SGD(plain.parameters(), lr=0.1, momentum=0.9)
    for _ in range(3):
        bw.backward(net, x, t, "mse", ["none"])
        sp.step(net, st.resolve(net.data["optimizer"], "sgd", {"lr": 0.1, "momentum": 0.9}))
        bw.zero_grad(net)
        opt.zero_grad()
        F.mse_loss(plain(x), t).backward()
        opt.step()
    assert torch.equal(net.linears[0].weight, plain.weight) and torch.equal(net.linears[0].bias, plain.bias)
    assert net.data["step"] == 3


def test_step_counts_from_zero_and_passes_the_plan_notes_on():
    net = net_of([3, 2], ["none"], seed=9)
    del net.data["step"]
    bw.backward(net, torch.tensor(X), torch.tensor(T2), "mse", ["none"])
    saved = {"name": "adam", "settings": {**st.DEFAULTS["adam"], "lr": 0.1}, "state": None}
    changed = st.resolve(saved, "sgd", {"lr": 0.1})
    result = sp.step(net, changed)
    assert result.step == 1 and net.data["step"] == 1
    assert result.notes == changed.notes == ["optimizer changed from adam to sgd: the old optimizer's state was reset"]


def test_step_without_gradients_says_what_to_run():
    from linctl.errors import LinctlError

    with pytest.raises(LinctlError) as caught:
        sp.step(net_of([3, 2], ["none"], seed=5), sgd_plan())
    assert str(caught.value) == (
        "no gradients to step on; run 'linctl backward --x ... --t ...' first (or use train-step)"
    )


# ---- registry: the text each entry shows, exactly


def test_the_local_rule_text_each_view_prints():
    assert registry.activation("none").local_rule("dL/do", "h1", "z1") == "dL/do"
    assert registry.activation("sigmoid").local_rule("dL/do", "h1", "z1") == "dL/do ⊙ h1(1-h1)"
    assert registry.activation("tanh").local_rule("(delta1·W1)", "h0", "z0") == "(delta1·W1) ⊙ (1 - h0²)"
    assert registry.activation("relu").local_rule("g", "h0", "z0") == "g ⊙ (z0 > 0)"
    assert registry.activation("softmax").local_rule("dL/do", "h1", "z1") == "h1 ⊙ (dL/do − (dL/do·h1))"
    assert registry.names({"a": 1, "b": 2, "c": 3}) == "a|b|c"
    assert registry.activation("softmax").module_call() == "Softmax(dim=1)"
    assert registry.activation("tanh").module_call() == "Tanh()"
    assert registry.activation("none").module_call() is None


def test_each_loss_says_how_many_target_values_a_sample_takes_and_how_torch_takes_them():
    assert registry.loss("mse").target_widths(3) == (3,)
    assert registry.loss("cross_entropy").target_widths(3) == (1, 3)  # a class index or a probability row
    assert registry.loss("cross_entropy").target_widths(1) == (1,)
    assert registry.loss("nll").target_widths(3) == (1,)
    t = torch.tensor([[2.0], [0.0]], dtype=torch.float64)
    assert torch.equal(registry.loss("nll").torch_target(t), torch.tensor([2, 0]))
    assert registry.loss("mse").torch_target(t) is t


@pytest.mark.parametrize("last", ["softmax", "log_softmax", "none"])
def test_forward_rows_reads_a_classifier_as_torch_does(last):
    net = net_of([2, 3], [last], dtype="float64", seed=4)
    rows = [[0.5, -1.0], [2.0, 0.25]]
    result = fw.forward_rows(net, rows)
    torch.manual_seed(4)
    plain = torch.nn.Linear(2, 3, dtype=torch.float64)
    z = plain(torch.tensor(rows, dtype=torch.float64)).detach()
    if last == "none":
        assert result.classified is None  # no softmax and no class names: not read as a classifier
        return
    out = torch.softmax(z, dim=1) if last == "softmax" else torch.log_softmax(z, dim=1)
    assert torch.equal(result.output, out)
    assert torch.equal(result.classified.predicted, out.argmax(dim=1))
    assert torch.equal(result.classified.probabilities, out if last == "softmax" else out.exp())
    assert result.classified.from_softmax is False
    with pytest.raises(UsageError):
        fw.forward_rows(net, [[1.0, 2.0, 3.0]])


# ---- what the second mutation run left standing


def test_each_module_is_printed_as_torch_prints_it():
    """module_call() is what print(net) shows for the entry: torch's own repr, built with the entry's arguments."""
    for act in registry.ACTIVATIONS.values():
        if act.module is not None:
            built = getattr(torch.nn, act.module)(**dict(act.arguments))
            assert act.module_call() == repr(built)
    two = registry.activation("softplus").module_call()  # two arguments, joined as torch joins them
    assert two == repr(torch.nn.Softplus()) == "Softplus(beta=1.0, threshold=20.0)"


def test_a_rule_written_over_the_input_gets_it():
    """An entry whose local backward is not g ⊙ dh/dz may name any of g, h and z (softsign's reads z)."""
    entry = registry.Activation(
        "softsign", "Softsign", "F.softsign", "h = z / (1 + |z|)", "1 / (1 + |{z}|)²", F.softsign,
        lambda z, h, g: g / (1 + z.abs()) ** 2, browser="(zs) => zs.map((z) => z / (1 + Math.abs(z)))",
        rule="{g} / (1 + |{z}|)² (from {h})",
    )  # fmt: skip
    assert entry.local_rule("dL/do", "h1", "z1") == "dL/do / (1 + |z1|)² (from h1)"


def test_cross_entropy_over_two_classes_takes_a_probability_row_as_torch_does():
    o = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float64)
    probabilities = torch.tensor([[0.25, 0.75], [1.0, 0.0]], dtype=torch.float64)
    assert registry.loss("cross_entropy").target_widths(2) == (1, 2)
    # torch takes both: a class index per sample, or a row of 2 probabilities
    assert torch.equal(registry.loss("cross_entropy").forward(o, probabilities), F.cross_entropy(o, probabilities))
    index = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    assert torch.equal(registry.loss("cross_entropy").forward(o, index), F.cross_entropy(o, torch.tensor([1, 0])))


def test_backward_rows_names_a_refused_value_by_the_place_it_is_given():
    net = net_of([2, 1], ["sigmoid"], seed=0)

    def place(kind, row, col):
        return f"--data d.csv line {row + 2} column {col + 3}"

    with pytest.raises(UsageError) as caught:
        bw.backward_rows(net, [[1.0, 1.0], [0.5, 0.5]], [[0.5], [1.5]], "bce", ["sigmoid"], place)
    assert str(caught.value).startswith("--data d.csv line 3 column 3: --loss bce needs targets in [0, 1], got 1.5")


def test_backward_rows_warns_of_softmax_before_cross_entropy_and_computes_torchs_numbers():
    net = net_of([2, 3], ["softmax"], dtype="float64", seed=4)
    plain = plain_layers(net)[0]
    x = torch.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=torch.float64)
    t = [[2.0], [0.0]]
    result = bw.backward_rows(net, x.tolist(), t, "cross_entropy", ["softmax"])
    assert [note.split(",")[0] for note in result.notes] == [
        "warning: the last layer ends in softmax and --loss cross_entropy applies log_softmax itself"
    ]
    loss = F.cross_entropy(torch.softmax(plain(x), dim=1), torch.tensor([2, 0]))
    loss.backward()
    assert result.loss == loss.item()
    assert torch.equal(result.layers[0].param("weight").grad, plain.weight.grad)
    assert bw.backward_rows(net, x.tolist(), t, "cross_entropy", ["none"]).notes == []


def test_a_step_records_each_parameter_under_its_state_dict_name():
    net = net_of([3, 4, 2], ["tanh", "none"], seed=5)
    bw.backward(net, torch.tensor(X), torch.tensor(T2), "mse", ["tanh", "none"])
    result = sp.step(net, sgd_plan(0.25))
    plain = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    assert [name for layer in result.layers for name in layer.params] == list(plain.state_dict())
    for layer in result.layers:
        for key, param in layer.params.items():
            assert param.name == key and key.endswith(param.kind)


def test_layer_steps_with_a_bias_gradient_and_no_weight_gradient():
    """torch steps the parameters that have a gradient (say a frozen weight) and leaves the others."""
    net = net_of([2, 1], ["none"], weights=[[[1.0, 2.0]]], biases=[[0.5]])
    net.linears[0].bias.grad = torch.tensor([2.0])
    plain = plain_layers(net)[0]
    plain.bias.grad = torch.tensor([2.0])
    before = sp.snapshot(net)
    torch.optim.SGD(net.parameters(), lr=0.25).step()
    torch.optim.SGD(plain.parameters(), lr=0.25).step()
    layers, worst, same = sp.layer_steps(net, before, 0.25)
    assert (worst, same) == (0.0, True)
    assert layers[0].param("weight").hand is None
    assert torch.equal(layers[0].param("bias").hand, plain.bias.detach())
    assert torch.equal(layers[0].param("weight").value, plain.weight.detach())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_compare_gives_torch_allclose_verdict_on_the_bound_and_for_nan_on_one_side(dtype):
    """compare is torch.allclose(a, b, rtol, atol, equal_nan=True) written out: a difference equal to the
    bound is close, and NaN agrees only with NaN."""
    rtol, atol = fw.tolerance(dtype)
    nan = float("nan")
    pairs = [
        ([atol], [0.0]),  # |a - b| == atol + rtol·|b| exactly
        ([nan], [1.0]),
        ([1.0], [nan]),
        ([nan], [nan]),
        ([1.0, nan], [1.0, 2.0]),
    ]
    for a, b in pairs:
        a, b = torch.tensor(a, dtype=dtype), torch.tensor(b, dtype=dtype)
        assert fw.compare(a, b)[1] is torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    assert fw.compare(torch.tensor([atol], dtype=dtype), torch.tensor([0.0], dtype=dtype))[1] is True
    assert fw.compare(torch.tensor([nan], dtype=dtype), torch.tensor([1.0], dtype=dtype)) == (0.0, False)


def test_forward_rows_reads_a_network_with_class_names_as_a_classifier():
    """No softmax at the end, but class names learnt from a label column: the softmax of the output, flagged."""
    net = net_of([2, 3], ["none"], dtype="float64", seed=4)
    net.data["classes"] = ["cat", "dog", "emu"]
    rows = [[0.5, -1.0], [2.0, 0.25]]
    result = fw.forward_rows(net, rows)
    plain = plain_layers(net)[0]
    z = plain(torch.tensor(rows, dtype=torch.float64)).detach()
    assert torch.equal(result.output, z)
    assert torch.equal(result.classified.predicted, z.argmax(dim=1))
    assert torch.equal(result.classified.probabilities, torch.softmax(z, dim=1))
    assert result.classified.from_softmax is True and result.classified.classes == ["cat", "dog", "emu"]
    net.data["classes"] = None
    assert fw.forward_rows(net, rows).classified is None
