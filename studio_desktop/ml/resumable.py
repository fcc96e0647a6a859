"""A training loader that can stop in the middle of an epoch and go on from the same image.

The order of every epoch is a function of (seed, epoch), so after a stop the interrupted
epoch's order can be drawn again and the images already trained on skipped. Lightning saves
the loader's ``state_dict`` in each checkpoint and hands it back on resume (its "stateful
loader" interface); :class:`~.callbacks.ProtocolCallback` keeps ``trained_batches`` current.
Without this, a stop could only go back to the end of the last whole epoch: on a large
dataset, an hour of training lost to one click on Stop.
"""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Sampler


class EpochShuffle(Sampler[int]):
    """Shuffled indices, a new order each epoch, reproducible from (seed, epoch)."""

    def __init__(self, n: int, seed: int):
        self.n = n
        self.seed = seed
        self.epoch = 0
        #: indices of the current epoch to leave out (already trained before a stop)
        self.skip = 0

    def set_epoch(self, epoch: int) -> None:  # called by Lightning before every epoch
        self.epoch = epoch

    def order(self, epoch: int) -> list[int]:
        gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
        return torch.randperm(self.n, generator=gen).tolist()

    def __iter__(self):
        skip, self.skip = self.skip, 0
        return iter(self.order(self.epoch)[skip:])

    def __len__(self) -> int:
        return self.n  # the whole epoch: Lightning counts a resumed epoch's batches on from where it was


class ResumableLoader(DataLoader):
    """A shuffling DataLoader whose position in the epoch is saved in checkpoints."""

    def __init__(self, dataset, *, batch_size: int, seed: int, **kw):
        self.epoch_sampler = EpochShuffle(len(dataset), seed)
        super().__init__(dataset, batch_size=batch_size, sampler=self.epoch_sampler, **kw)
        #: batches of the current epoch trained so far (set after every step by the protocol callback)
        self.trained_batches = 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch_sampler.epoch, "trained_batches": self.trained_batches}

    def load_state_dict(self, state: dict) -> None:
        # (Lightning also announces the epoch with set_epoch before the resumed iterator starts;
        # taking it from the state as well keeps the order right whatever that sequence)
        self.epoch_sampler.epoch = int(state.get("epoch", 0))
        self.trained_batches = int(state.get("trained_batches", 0))
        self.epoch_sampler.skip = self.trained_batches * int(self.batch_size or 1)
