"""Samplers: the order in which a DataLoader visits a dataset's indices
(`torch.utils.data.sampler`), and the one place that reads a `generator=` argument."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any, Generic, TypeVar

import numpy as np

from ...backend import generator as _global_generator

__all__ = [
    "Sampler",
    "SequentialSampler",
    "RandomSampler",
    "SubsetRandomSampler",
    "WeightedRandomSampler",
    "BatchSampler",
]

T_co = TypeVar("T_co", covariant=True)

GENERATOR_DOC = """A `generator=` argument (dygrad has no `torch.Generator`) may be:
- `None`: draw from dygrad's own random generator, so `dygrad.manual_seed` makes it reproducible;
- an `int` seed: a private NumPy generator seeded with it once, when the object is made (so a
  shuffling DataLoader still gives a new order each epoch, the same sequence of orders each run);
- a `numpy.random.Generator`, used as is (its state advances as it is drawn from)."""


def resolve_generator(generator: Any) -> np.random.Generator | None:
    """Normalize a `generator=` argument: None stays None (dygrad's generator, looked up when
    drawing), an int seeds a new NumPy generator, a NumPy generator is kept.

    >>> resolve_generator(None) is None
    True
    >>> a, b = resolve_generator(3), resolve_generator(3)
    >>> a.permutation(5).tolist() == b.permutation(5).tolist()
    True
    """
    if generator is None or isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, int | np.integer) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator) & 0xFFFF_FFFF_FFFF_FFFF)
    raise TypeError(
        "generator must be None (dygrad's random generator, seeded by dygrad.manual_seed), "
        f"an int seed or a numpy.random.Generator, got {type(generator).__name__}"
    )


def _rng(generator: np.random.Generator | None) -> np.random.Generator:
    # Like PyTorch, a sampler without a generator draws one seed from the global generator per
    # pass, so the global stream advances by the same amount whatever the dataset's size.
    if generator is not None:
        return generator
    return np.random.default_rng(int(_global_generator().integers(0, 2**63)))


class Sampler(Generic[T_co]):
    """Base class of samplers: an iterable over dataset indices (`torch.utils.data.Sampler`).

    Subclasses define `__iter__`, and `__len__` when the number of indices is known.

    >>> class Evens(Sampler[int]):
    ...     def __init__(self, n): self.n = n
    ...     def __iter__(self): return iter(range(0, self.n, 2))
    >>> list(Evens(5))
    [0, 2, 4]
    """

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError


class SequentialSampler(Sampler[int]):
    """Indices 0, 1, ..., len(data_source) - 1 in order (`torch.utils.data.SequentialSampler`).

    >>> list(SequentialSampler(range(3)))
    [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """Indices in random order, a new order each pass (`torch.utils.data.RandomSampler`).

    Without replacement each pass is a permutation (several, when `num_samples` exceeds the
    dataset); with replacement, `num_samples` independent draws. For `generator` see
    `GENERATOR_DOC` in this module: None draws from dygrad's generator.

    >>> import dygrad as torch
    >>> torch.manual_seed(0); a = list(RandomSampler(range(5)))
    >>> torch.manual_seed(0); a == list(RandomSampler(range(5))), sorted(a)
    (True, [0, 1, 2, 3, 4])
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        generator: Any = None,
    ) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = resolve_generator(generator)
        if not isinstance(replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )
        n = self.num_samples
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={n}"
            )

    @property
    def num_samples(self) -> int:
        # The dataset may change size after the sampler is made: look it up each time.
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        rng = _rng(self.generator)
        if self.replacement:
            yield from rng.integers(0, n, self.num_samples).tolist()
            return
        for _ in range(self.num_samples // n):
            yield from rng.permutation(n).tolist()
        yield from rng.permutation(n)[: self.num_samples % n].tolist()

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given indices in a random order, a new order each pass
    (`torch.utils.data.SubsetRandomSampler`).

    >>> sorted(SubsetRandomSampler([7, 3, 5], generator=0))
    [3, 5, 7]
    """

    def __init__(self, indices: Sequence[int], generator: Any = None) -> None:
        self.indices = indices
        self.generator = resolve_generator(generator)

    def __iter__(self) -> Iterator[int]:
        for i in _rng(self.generator).permutation(len(self.indices)).tolist():
            yield self.indices[i]

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler[int]):
    """Indices 0..len(weights)-1 drawn with probabilities proportional to `weights`
    (`torch.utils.data.WeightedRandomSampler`).

    >>> list(WeightedRandomSampler([0.0, 1.0, 0.0], 4, generator=0))
    [1, 1, 1, 1]
    """

    def __init__(
        self,
        weights: Sequence[float] | Any,
        num_samples: int,
        replacement: bool = True,
        generator: Any = None,
    ) -> None:
        if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={num_samples}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(
                f"weights should be a 1d sequence but given weights have shape {tuple(w.shape)}"
            )
        if not np.isfinite(w).all():
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if (w < 0).any():
            raise RuntimeError(
                "invalid multinomial distribution (encountering probability entry < 0)"
            )
        if w.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        if not replacement and num_samples > int((w > 0).sum()):
            raise RuntimeError(
                "cannot sample n_sample > prob_dist.size(-1) samples without replacement"
            )
        self.weights = w
        self.num_samples = num_samples
        self.replacement = replacement
        self.generator = resolve_generator(generator)

    def __iter__(self) -> Iterator[int]:
        p = self.weights / self.weights.sum()
        rng = _rng(self.generator)
        yield from rng.choice(len(p), self.num_samples, replace=self.replacement, p=p).tolist()

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[int]]):
    """Group another sampler's indices into lists of `batch_size`
    (`torch.utils.data.BatchSampler`); the last, shorter batch is kept unless `drop_last`.

    >>> list(BatchSampler(SequentialSampler(range(5)), batch_size=2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    >>> len(BatchSampler(range(5), 2, drop_last=True))
    2
    """

    def __init__(
        self, sampler: Sampler[int] | Iterable[int], batch_size: int, drop_last: bool
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size!r}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[list[int]]:
        it = iter(self.sampler)
        while batch := list(itertools.islice(it, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
