"""A long run keeps a bounded record: the losses in tensors of many steps, the epoch's metric sums added up every
few dozen batches; the values are those of one list of them all."""

from __future__ import annotations


def test_the_loss_log_holds_every_step_as_one_stack_would():
    import torch

    from linctl.optim.records import LossLog

    g = torch.Generator().manual_seed(0)
    values = [torch.rand((), generator=g) for _ in range(LossLog.CHUNK * (LossLog.CHUNK + 2) + 5)]
    log = LossLog()
    for k, v in enumerate(values):
        log.append(v)
        assert len(log) == k + 1 and torch.equal(log.last(), v)
    assert torch.equal(log.stacked(), torch.stack(values))
    assert len(log.done) == 3  # kept as a few tensors, not one per step
    exact = LossLog()
    for v in values[: LossLog.CHUNK]:
        exact.append(v)
    assert torch.equal(exact.stacked(), torch.stack(values[: LossLog.CHUNK])) and exact.open == []


def test_the_metric_of_a_long_epoch_is_r2_over_all_its_batches():
    import torch

    from linctl.model.metrics import Tally

    g = torch.Generator().manual_seed(1)
    tally = Tally("r2")
    tally.HOLD = 4 * 3 * 2  # four batches of 3x2 held at most, then summed
    outs, targets = [], []
    for _ in range(135):
        o, t = torch.rand(3, 2, generator=g), torch.rand(3, 2, generator=g)
        tally.add(o, t)
        assert len(tally.held) < 4
        outs.append(o.double())
        targets.append(t.double())
    assert tally.count == 132 * 3 and len(tally.held) == 3
    o, t = torch.cat(outs), torch.cat(targets)
    sse = ((o - t) ** 2).sum(dim=0)
    sst = ((t - t.mean(dim=0)) ** 2).sum(dim=0)
    expected = float((1 - sse / sst).mean())
    assert abs(tally.close() - expected) < 1e-12


def test_the_accuracy_of_a_long_epoch_counts_every_batch_held_or_summed():
    import torch

    from linctl.model.metrics import Tally

    g = torch.Generator().manual_seed(2)
    tally = Tally("accuracy")
    tally.HOLD = 5 * 4 * 3  # five batches of 4 samples x 3 classes
    hits, count = 0, 0
    for _ in range(23):
        o, t = torch.randn(4, 3, generator=g), torch.randint(0, 3, (4,), generator=g)
        tally.add(o, t)
        hits += int((o.argmax(dim=1) == t).sum())
        count += 4
    assert tally.count == 4 * 5 * 4 and len(tally.held) == 3
    assert tally.close() == hits / count
    assert tally.close() is None and tally.held == []
