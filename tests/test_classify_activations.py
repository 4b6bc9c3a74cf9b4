"""Issue 17: softmax, log_softmax and the common element-wise activations, each one registry entry.

Every number is plain torch's, built here: the module torch prints, forward and autograd's gradients bit for bit
through one, two and three layers, the by-hand backprop (the entry's local backward) beside autograd, and the
local backward alone against autograd's vector-Jacobian product on the same z.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from conftest import exact, program_state, rows, run, run_json
from linctl.model import registry

MODULES = {
    "softmax": lambda: nn.Softmax(dim=1),
    "log_softmax": lambda: nn.LogSoftmax(dim=1),
    "leaky_relu": nn.LeakyReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
}
NEW = list(MODULES)
# one, two and three layers: 3-2, 3-4-2, 3-4-3-2
SIZES = {1: [3, 2], 2: [3, 4, 2], 3: [3, 4, 3, 2]}
X = [[1.0, 2.0, -1.0], [0.5, -1.5, 2.0], [-1.0, 0.3, 0.7], [2.5, -0.2, 0.1]]
T = [[0.2, 0.9], [0.7, 0.1], [0.4, 0.6], [-0.3, 0.5]]


def plain(sizes: list[int], activation: str, seed: int) -> nn.Module:
    """torch.manual_seed(seed), then the Linear layers in order, each followed by the activation's module."""
    torch.manual_seed(seed)
    linears = [nn.Linear(sizes[k], sizes[k + 1]) for k in range(len(sizes) - 1)]
    if len(linears) == 1:
        return linears[0]
    modules: list[nn.Module] = []
    for linear in linears:
        modules += [linear, MODULES[activation]()]
    return nn.Sequential(*modules)


def plain_output(net: nn.Module, activation: str, x):
    """The output linctl computes: a bare Linear gets the activation after it, a Sequential holds its modules."""
    return MODULES[activation]()(net(x)) if isinstance(net, nn.Linear) else net(x)


def plain_linears(net: nn.Module) -> list[nn.Linear]:
    return [net] if isinstance(net, nn.Linear) else [m for m in net if isinstance(m, nn.Linear)]


@pytest.mark.parametrize("activation", NEW)
def test_the_module_prints_as_torch_prints_it(tmp_path, activation):
    state = tmp_path / "net.safetensors"
    out = run_json("inspect", "3", "4", "2", "--seed", "1", "--activation", activation, state=state)
    assert out["structure"] == str(plain(SIZES[2], activation, 1))


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("activation", NEW)
def test_forward_and_backward_equal_plain_torch_with_backprop_by_hand_beside_autograd(tmp_path, activation, depth):
    state = tmp_path / "net.safetensors"
    sizes = SIZES[depth]
    built = run("inspect", *map(str, sizes), "--seed", "7", "--activation", activation, state=state)
    assert built.exit_code == 0, built.stderr
    net = plain(sizes, activation, 7)
    x, t = torch.tensor(X), torch.tensor(T)

    forward = run_json("forward", "--x", rows(X), state=state)
    o = plain_output(net, activation, x)
    exact(forward["output"], o)

    back = run_json("backward", "--x", rows(X), "--t", rows(T), "--loss", "mse", state=state)
    F.mse_loss(o, t).backward()
    exact(back["loss"], F.mse_loss(o, t))
    assert back["match"] is True
    grads = back.get("layers", [back])
    for layer, linear in zip(grads, plain_linears(net), strict=True):
        exact(layer["weight_grad"], linear.weight.grad)
        exact(layer["bias_grad"], linear.bias.grad)
        # the by-hand chain rule runs other arithmetic than autograd's kernels: close, not equal
        assert_close(torch.tensor(layer["manual_weight_grad"]), linear.weight.grad)
        assert_close(torch.tensor(layer["manual_bias_grad"]), linear.bias.grad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("activation", NEW)
def test_each_local_backward_by_hand_is_autograds_vector_jacobian_product(activation, dtype):
    """Softmax's by hand is the Jacobian-vector product h ⊙ (g − (g·h)) per sample, not an element-wise factor."""
    generator = torch.Generator().manual_seed(3)
    z = (torch.randn(5, 4, generator=generator, dtype=dtype) * 3).requires_grad_()
    g = torch.randn(5, 4, generator=generator, dtype=dtype)
    h = MODULES[activation]()(z)
    (expected,) = torch.autograd.grad(h, z, g)
    entry = registry.activation(activation)
    exact(entry.forward(z.detach()), h)
    assert_close(entry.backward(z.detach(), h.detach(), g), expected)


def test_softmax_is_not_element_wise_and_its_rule_is_the_jacobian_vector_product():
    entry = registry.activation("softmax")
    assert entry.elementwise is False
    assert entry.local_rule("g", "h", "z") == "h ⊙ (g − (g·h))"
    z = torch.tensor([[1.0, 2.0, 3.0]])
    h = torch.softmax(z, dim=1)
    jacobian = torch.diag(h[0]) - h[0].outer(h[0])  # the full Jacobian, written out
    g = torch.tensor([[0.5, -1.0, 2.0]])
    assert_close(entry.backward(z, h, g), (g[0] @ jacobian).unsqueeze(0))
    # an element-wise reading (g ⊙ h(1-h)) would be wrong here
    assert not torch.allclose(entry.backward(z, h, g), g * h * (1 - h))


def test_backward_shows_softmaxs_rule_in_its_by_hand_column(tmp_path):
    state = tmp_path / "net.safetensors"
    run_json("inspect", "3", "4", "2", "--seed", "0", "--activation", "tanh", "--activation", "softmax", state=state)
    shown = run("backward", "--x", rows(X), "--t", rows(T), state=state)
    assert shown.exit_code == 0, shown.stderr
    assert "delta1 = h1 ⊙ (dL/do − (dL/do·h1))" in shown.stdout
    assert "delta0 = (delta1·W1) ⊙ (1 - h0²)" in shown.stdout


@pytest.mark.parametrize(
    "activation", ["softmax", *(pytest.param(a, marks=pytest.mark.slow) for a in ("leaky_relu", "softplus"))]
)
def test_the_exported_program_rebuilds_and_replays_the_new_modules(tmp_path, activation):
    state = tmp_path / "net.safetensors"
    run_json("inspect", "3", "4", "2", "--seed", "2", "--activation", activation, state=state)
    run_json("train-step", "--x", rows(X), "--t", rows(T), "--lr", "0.1", state=state)
    net = plain(SIZES[2], activation, 2)
    torch.optim.SGD(net.parameters(), lr=0.1).zero_grad()
    F.mse_loss(net(torch.tensor(X)), torch.tensor(T)).backward()
    torch.optim.SGD(net.parameters(), lr=0.1).step()
    program = tmp_path / "session.py"
    assert run("export", "--python", str(program), state=state).exit_code == 0
    assert f"torch.nn.{registry.activation(activation).module_call()}" in program.read_text()
    replayed = program_state(program)
    for name, value in net.state_dict().items():
        exact(replayed[name], value)
