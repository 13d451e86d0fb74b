"""`DataLoader`: batches of samples from a dataset, in order or shuffled, collated into tensors
(`torch.utils.data.DataLoader`); it loads in the calling process."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ...creation import as_tensor
from .collate import default_collate, default_convert
from .dataset import IterableDataset, TensorDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info"]


def get_worker_info() -> None:
    """Information about the current loader worker process (`torch.utils.data.get_worker_info`):
    always None, since dygrad loads in the main process.

    >>> get_worker_info() is None
    True
    """
    return None


class _InfiniteConstantSampler(Sampler[None]):
    # For iterable datasets the "indices" only count how many samples make a batch.
    def __iter__(self) -> Iterator[None]:
        while True:
            yield None


class DataLoader:
    """Iterate over `dataset` in batches (`torch.utils.data.DataLoader`).

    Map-style datasets are visited in order, or in a new random order each epoch with
    `shuffle=True` (drawn from dygrad's generator, so `dygrad.manual_seed` makes it
    reproducible, or from `generator`: an int seed or a `numpy.random.Generator`), or in the order
    a `sampler` / `batch_sampler` gives. Samples are merged by `collate_fn` (default:
    `default_collate`); `batch_size=None` turns batching off (samples go through
    `default_convert`). Iterable datasets are read in their own order. Loading always runs in the
    calling process: `num_workers > 0` is accepted, with a warning, and loads the same batches in
    the same order as `num_workers=0`; `pin_memory`, `timeout`, `prefetch_factor`,
    `persistent_workers` and the like are accepted and have no effect on CPU.

    >>> import dygrad as torch
    >>> from dygrad.utils.data import TensorDataset
    >>> ds = TensorDataset(torch.arange(10.).reshape(5, 2), torch.tensor([0, 1, 0, 1, 1]))
    >>> loader = DataLoader(ds, batch_size=2)
    >>> len(loader), [y.tolist() for _, y in loader]
    (3, [[0, 1], [0, 1], [1]])
    >>> x, y = next(iter(loader)); x
    tensor([[0., 1.],
            [2., 3.]])
    >>> len(DataLoader(ds, batch_size=2, drop_last=True, shuffle=True))
    2
    """

    _initialized = False

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler[Any] | Iterable[Any] | None = None,
        batch_sampler: Sampler[list[Any]] | Iterable[list[Any]] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], None] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ) -> None:
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; "
                "use num_workers=0 to disable multiprocessing."
            )
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing.let "
                "num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if num_workers > 0:
            warnings.warn(
                f"DataLoader(num_workers={num_workers}): dygrad has no worker processes; "
                "batches are loaded in the main process, in the same order as with num_workers=0",
                stacklevel=2,
            )

        if isinstance(dataset, IterableDataset):
            self._iterable = True
            if shuffle not in (False, None):
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, "
                    f"but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified sampler option, "
                    f"but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler option, "
                    f"but got batch_sampler={batch_sampler}"
                )
        else:
            self._iterable = False
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                    "sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with "
                "drop_last"
            )
        if sampler is None:
            if self._iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)

        self.dataset = dataset
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.collate_fn = collate_fn or (
            default_collate if batch_sampler is not None else default_convert
        )
        self.generator = generator
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self.in_order = in_order
        self._initialized = True

    def __setattr__(self, name: str, value: Any) -> None:
        if self._initialized and name in (
            "batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers"
        ):  # fmt: skip
            raise ValueError(
                f"{name} attribute should not be set after {type(self).__name__} is initialized"
            )
        super().__setattr__(name, value)

    @property
    def _auto_collation(self) -> bool:
        return self.batch_sampler is not None

    @property
    def _index_sampler(self) -> Any:
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self) -> int:
        """The number of batches in an epoch (`len(DataLoader)`)."""
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self._index_sampler)

    def __iter__(self) -> Iterator[Any]:
        if self._iterable:
            return self._iter_iterable()
        return self._iter_map()

    def _iter_map(self) -> Iterator[Any]:
        dataset, collate_fn = self.dataset, self.collate_fn
        if not self._auto_collation:
            for index in self.sampler:
                yield collate_fn(dataset[index])
            return
        # Same batches as the general path, with one gather per tensor instead of one index per
        # sample: a TensorDataset collated by default_collate is exactly `t[indices]`.
        fast = type(dataset) is TensorDataset and collate_fn is default_collate
        getitems = getattr(dataset, "__getitems__", None)
        for indices in self.batch_sampler:  # type: ignore[union-attr]
            if fast and dataset.tensors:
                idx = as_tensor(list(indices))
                yield tuple(t[idx] for t in dataset.tensors)
            elif callable(getitems):
                yield collate_fn(getitems(indices))
            else:
                yield collate_fn([dataset[i] for i in indices])

    def _iter_iterable(self) -> Iterator[Any]:
        it = iter(self.dataset)
        if not self._auto_collation:
            for sample in it:
                yield self.collate_fn(sample)
            return
        for indices in self.batch_sampler:  # type: ignore[union-attr]
            batch = []
            for _ in indices:
                try:
                    batch.append(next(it))
                except StopIteration:
                    break
            if not batch or (self.drop_last and len(batch) < len(indices)):
                return
            yield self.collate_fn(batch)
            if len(batch) < len(indices):
                return
