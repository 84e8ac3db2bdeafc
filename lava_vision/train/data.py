"""Data order as a pure function of (seed, epoch), sharded over processes, resumable mid-epoch.

Training: each epoch draws one permutation of the dataset and one 63-bit seed per position from a
generator seeded by (seed, epoch); the permutation is padded by wrap-around to a multiple of the
number of processes (so every process takes the same number of steps, as DistributedSampler does)
and process r takes positions r, r + world, ... Each sample is loaded under its own seed (torch,
numpy, random), so random augmentations do not depend on worker count or on where a run resumed.
Resuming skips the first ``start_batch`` batches of the epoch without loading them.

Evaluation: process r takes samples r, r + world, ... of the first ``max_samples``, with no padding,
so summed metric states cover every sample exactly once.
"""
from __future__ import annotations

import math
import random
import signal
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


class EpochSampler(Sampler):
    """Yields ``(dataset index, sample seed)`` for this process's share of one epoch."""

    def __init__(self, num_samples: int, batch_size: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if num_samples <= 0:
            raise ValueError("the training dataset is empty")
        self.n, self.batch_size, self.seed, self.rank, self.world = num_samples, batch_size, seed, rank, world
        self.per_rank = math.ceil(num_samples / world)
        self.batches_per_epoch = math.ceil(self.per_rank / batch_size)
        self.epoch, self.start_batch = 0, 0

    def set_position(self, epoch: int, start_batch: int = 0) -> None:
        """The next iteration yields epoch ``epoch`` from its batch ``start_batch`` on."""
        self.epoch, self.start_batch = epoch, start_batch

    def shard(self, epoch: int) -> list[tuple[int, int]]:
        g = epoch_generator(self.seed, epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        seeds = torch.randint(0, 2**62, (self.n,), generator=g).tolist()
        pairs = list(zip(perm, seeds))
        pairs += pairs[: self.per_rank * self.world - self.n]  # wrap-around padding
        return pairs[self.rank::self.world]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return iter(self.shard(self.epoch)[self.start_batch * self.batch_size:])

    def __len__(self) -> int:
        return max(self.per_rank - self.start_batch * self.batch_size, 0)


class SeededDataset(Dataset):
    """``dataset[(index, seed)]`` loads ``index`` with torch/numpy/random seeded by ``seed``, then
    restores the previous random states (in the main process they drive dropout)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, seed = key
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)


def _ignore_sigint(worker_id: int) -> None:
    """Ctrl-C reaches the loader workers too; the main process handles it (saves, then stops), and a
    worker that died of it would fail the batch fetched meanwhile."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def train_loader(dataset: Dataset, collate: Callable, batch_size: int, seed: int, rank: int, world: int,
                 num_workers: int, pin_memory: bool) -> DataLoader:
    """A loader over an ``EpochSampler``; call ``loader.sampler.set_position`` before each epoch."""
    sampler = EpochSampler(len(dataset), batch_size, seed, rank, world)  # type: ignore[arg-type]
    return DataLoader(SeededDataset(dataset), batch_size=batch_size, sampler=sampler, collate_fn=collate,
                      num_workers=num_workers, pin_memory=pin_memory, worker_init_fn=_ignore_sigint,
                      # worker base seeds come from here, not from the global RNG (keeps it resumable)
                      generator=torch.Generator().manual_seed(seed))


def eval_loader(dataset: Dataset, collate: Callable, batch_size: int, max_samples: int, rank: int, world: int,
                num_workers: int = 0) -> DataLoader:
    """This process's share (r, r + world, ...) of the first ``max_samples`` samples (0 = all), in order."""
    n = len(dataset)  # type: ignore[arg-type]
    if max_samples > 0:
        n = min(n, max_samples)
    return DataLoader(Subset(dataset, range(rank, n, world)), batch_size=batch_size, shuffle=False,
                      collate_fn=collate, num_workers=num_workers)
