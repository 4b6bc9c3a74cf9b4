"""torch.distributed workers: the world a command runs in, the launcher of `--nproc N`, the shards of the data,
the data-parallel train loop and the lesson of backward/train-step over several processes."""
