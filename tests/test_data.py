"""dygrad.utils.data against torch.utils.data: collation, datasets, samplers, random_split and
DataLoader (batches, lengths, shuffling, errors)."""

import collections
import warnings

import numpy as np
import pytest

import dygrad
from dygrad.utils import data as D


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def assert_same(d, t, torch):
    """A dygrad result equals PyTorch's: same container types, keys, dtypes, shapes, values."""
    if isinstance(t, torch.Tensor):
        assert isinstance(d, dygrad.Tensor), f"expected a tensor, got {type(d).__name__}"
        assert str(d.dtype) == str(t.dtype)
        assert tuple(d.shape) == tuple(t.shape)
        np.testing.assert_array_equal(d.numpy(), t.numpy())
    elif isinstance(t, dict):
        assert type(d) is type(t) and list(d) == list(t)
        for k in t:
            assert_same(d[k], t[k], torch)
    elif isinstance(t, list | tuple):
        assert type(d) is type(t) and len(d) == len(t)
        for a, b in zip(d, t):
            assert_same(a, b, torch)
    else:
        assert type(d) is type(t) and (d == t or (d != d and t != t))


Point = collections.namedtuple("Point", "x y")

# Each case builds a batch (a list of samples) with the given library (dygrad or torch).
COLLATE_CASES = {
    "float32 tensors": lambda L: [L.tensor([1.0, 2.0]), L.tensor([3.0, 4.0])],
    "0-d int tensors": lambda L: [L.tensor(1), L.tensor(2), L.tensor(3)],
    "empty tensors": lambda L: [L.zeros(0, 2), L.zeros(0, 2)],
    "bool tensors": lambda L: [L.tensor([True]), L.tensor([False])],
    "one sample": lambda L: [L.ones(2, 3, dtype=L.float64)],
    "numpy float16 arrays": lambda L: [np.ones((2, 2), np.float16), np.zeros((2, 2), np.float16)],
    "numpy int arrays": lambda L: [np.arange(3), np.arange(3, 6)],
    "numpy float32 scalars": lambda L: [np.float32(1.5), np.float32(2.5)],
    "numpy int32 scalars": lambda L: [np.int32(1), np.int32(2)],
    "numpy bool scalars": lambda L: [np.bool_(True), np.bool_(False)],
    "python floats": lambda L: [1.5, 2.0, -3.25],
    "python ints": lambda L: [1, 2, 3],
    "python bools": lambda L: [True, False],
    "int then float": lambda L: [1, 2.5],
    "strings": lambda L: ["a", "bc"],
    "bytes": lambda L: [b"a", b"b"],
    "tuples": lambda L: [(L.tensor([1.0]), 0), (L.tensor([2.0]), 1)],
    "lists": lambda L: [[1, 2], [3, 4]],
    "tuple with string": lambda L: [(1, "a"), (2, "b")],
    "dicts": lambda L: [
        {"x": L.tensor([1.0, 2.0]), "y": 1, "name": "a"},
        {"x": L.tensor([3.0, 4.0]), "y": 0, "name": "b"},
    ],
    "nested": lambda L: [
        {"a": {"b": [1.0, 2.0]}, "c": (np.zeros(2), [L.tensor(1)])},
        {"a": {"b": [3.0, 4.0]}, "c": (np.ones(2), [L.tensor(2)])},
    ],
    "ordered dicts": lambda L: [collections.OrderedDict(b=1, a=2)] * 2,
    "namedtuples": lambda L: [Point(1, L.tensor(1.0)), Point(2, L.tensor(2.0))],
}


@pytest.mark.parametrize("case", list(COLLATE_CASES))
def test_default_collate_matches_torch(case, torch):
    from torch.utils.data import default_collate

    ours = D.default_collate(COLLATE_CASES[case](dygrad))
    assert_same(ours, default_collate(COLLATE_CASES[case](torch)), torch)


CONVERT_CASES = {
    "numpy array": lambda L: np.arange(4.0),
    "numpy scalar": lambda L: np.int64(3),
    "tensor": lambda L: L.tensor([1, 2]),
    "tuple": lambda L: (np.zeros(2, np.float32), "s", 1),
    "dict": lambda L: {"a": np.ones(2), "b": [np.float32(2.0)], "c": 1.5},
    "string array stays": lambda L: {"s": "text"},
    "namedtuple": lambda L: Point(np.array(0), np.array(1)),
}


@pytest.mark.parametrize("case", list(CONVERT_CASES))
def test_default_convert_matches_torch(case, torch):
    from torch.utils.data import default_convert

    ours = D.default_convert(CONVERT_CASES[case](dygrad))
    assert_same(ours, default_convert(CONVERT_CASES[case](torch)), torch)


COLLATE_ERRORS = {
    "tensor sizes differ": lambda L: [L.zeros(2), L.zeros(3)],
    "tensor ranks differ": lambda L: [L.zeros(2, 1), L.zeros(2)],
    "numpy sizes differ": lambda L: [np.zeros(2), np.zeros(3)],
    "list lengths differ": lambda L: [[1, 2], [3]],
    "None": lambda L: [None, None],
    "object": lambda L: [object()],
    "numpy strings": lambda L: [np.array(["a"]), np.array(["b"])],
    "nested bad": lambda L: [{"a": [None]}, {"a": [None]}],
}


@pytest.mark.parametrize("case", list(COLLATE_ERRORS))
def test_default_collate_errors_match_torch(case, torch):
    from torch.utils.data import default_collate

    with pytest.raises(Exception) as theirs:
        default_collate(COLLATE_ERRORS[case](torch))
    with pytest.raises(type(theirs.value)) as ours:
        D.default_collate(COLLATE_ERRORS[case](dygrad))
    msg = str(theirs.value).replace("torch.", "")
    if case != "object":  # the object's address differs
        assert str(ours.value) == msg


def test_collate_without_torch_basics():
    out = D.default_collate([(dygrad.tensor([1.0]), 2.5), (dygrad.tensor([2.0]), 3.5)])
    assert isinstance(out, list) and out[0].shape == (2, 1) and out[1].dtype == dygrad.float64
    # Python floats batch to float64 whatever the default dtype, ints to int64.
    assert D.default_collate([1, 2]).dtype == dygrad.int64
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        D.default_collate([dygrad.zeros(2), dygrad.zeros(3)])


def test_collate_custom_map():
    def as_list(batch, *, collate_fn_map=None):
        return list(batch)

    fn_map = {**D.collate.default_collate_fn_map, float: as_list}
    assert D.collate.collate([(1.0, 1), (2.0, 2)], collate_fn_map=fn_map)[0] == [1.0, 2.0]


# ---------------------------------------------------------------------------------------------
# Datasets


def test_tensor_dataset():
    x, y = dygrad.arange(12.0).reshape(4, 3), dygrad.tensor([0, 1, 1, 0])
    ds = D.TensorDataset(x, y)
    assert len(ds) == 4
    xi, yi = ds[2]
    assert xi.tolist() == [6.0, 7.0, 8.0] and yi.item() == 1 and yi.shape == ()
    assert [t.shape for t in ds[1:3]] == [(2, 3), (2,)]
    assert ds.tensors[0] is x


def test_tensor_dataset_size_mismatch_like_torch(torch):
    with pytest.raises(AssertionError) as theirs:
        torch.utils.data.TensorDataset(torch.zeros(3, 2), torch.zeros(4))
    with pytest.raises(AssertionError) as ours:
        D.TensorDataset(dygrad.zeros(3, 2), dygrad.zeros(4))
    assert str(ours.value) == str(theirs.value) == "Size mismatch between tensors"
    with pytest.raises(TypeError, match="argument 1 must be a Tensor, got list"):
        D.TensorDataset(dygrad.zeros(3), [1, 2, 3])


def test_dataset_base_and_concat():
    class Squares(D.Dataset):
        def __init__(self, n):
            self.n = n

        def __getitem__(self, i):
            if not 0 <= i < self.n:
                raise IndexError(i)
            return i * i

        def __len__(self):
            return self.n

    with pytest.raises(NotImplementedError, match="should implement __getitem__"):
        D.Dataset()[0]
    cat = Squares(2) + Squares(3)
    assert isinstance(cat, D.ConcatDataset)
    assert [cat[i] for i in range(len(cat))] == [0, 1, 0, 1, 4]
    assert cat[-1] == 4 and cat[-5] == 0 and cat.cumulative_sizes == [2, 5]
    with pytest.raises(ValueError, match="absolute value of index should not exceed"):
        cat[-6]
    with pytest.raises(IndexError):
        cat[5]
    with pytest.raises(AssertionError, match="should not be an empty iterable"):
        D.ConcatDataset([])
    with pytest.raises(AssertionError, match="does not support IterableDataset"):
        D.ConcatDataset([Squares(1), Count(2)])
    # Empty parts are skipped over.
    assert list(D.ConcatDataset([[], [7], [], [8, 9]])) == [7, 8, 9]


def test_concat_dataset_matches_torch(torch):
    parts = [[1, 2], [], [3, 4, 5]]
    ours, theirs = D.ConcatDataset(parts), torch.utils.data.ConcatDataset(parts)
    assert len(ours) == len(theirs) and ours.cumulative_sizes == theirs.cumulative_sizes
    assert [ours[i] for i in range(-5, 5)] == [theirs[i] for i in range(-5, 5)]


class Count(D.IterableDataset):
    def __init__(self, n, with_len=True):
        self.n, self.with_len = n, with_len

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        if not self.with_len:
            raise TypeError("no len")
        return self.n


def test_iterable_and_chain_dataset():
    with pytest.raises(NotImplementedError):
        iter(D.IterableDataset())
    chain = Count(2) + Count(3)
    assert isinstance(chain, D.ChainDataset)
    assert list(chain) == [0, 1, 0, 1, 2] and len(chain) == 5
    with pytest.raises(AssertionError, match="only supports IterableDataset"):
        list(D.ChainDataset([Count(1), [1, 2]]))


def test_subset_and_stack_dataset():
    base = D.TensorDataset(dygrad.arange(5))
    sub = D.Subset(base, [4, 0, 2])
    assert len(sub) == 3 and sub[0][0].item() == 4 and sub[-1][0].item() == 2
    assert [s[0].item() for s in sub.__getitems__([1, 2])] == [0, 2]
    assert D.Subset(np.arange(5) * 10, [4, 2])[[0, 1]].tolist() == [40, 20]  # list index
    st = D.StackDataset([1, 2], ["a", "b"])
    assert len(st) == 2 and st[1] == (2, "b")
    assert D.StackDataset(x=[1, 2], y=[3, 4])[0] == {"x": 1, "y": 3}
    with pytest.raises(ValueError, match="Size mismatch between datasets"):
        D.StackDataset([1], [1, 2])
    with pytest.raises(ValueError, match="At least one dataset"):
        D.StackDataset()
    with pytest.raises(ValueError, match="both types are given"):
        D.StackDataset([1], y=[2])


# ---------------------------------------------------------------------------------------------
# random_split


@pytest.mark.parametrize(
    "n,lengths",
    [(10, [3, 7]), (10, [0.3, 0.7]), (11, [0.5, 0.5]), (7, [0.2, 0.3, 0.5]), (30, [0.1] * 10),
     (5, [1.0]), (3, [0.1, 0.9]), (0, [0, 0])],
)  # fmt: skip
def test_random_split_sizes_match_torch(n, lengths, torch):
    with warnings.catch_warnings(record=True) as theirs_w:
        warnings.simplefilter("always")
        theirs = torch.utils.data.random_split(range(n), lengths)
    with warnings.catch_warnings(record=True) as ours_w:
        warnings.simplefilter("always")
        ours = D.random_split(range(n), lengths)
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert [str(w.message) for w in ours_w] == [str(w.message) for w in theirs_w]
    got = [i for s in ours for i in s]
    assert sorted(got) == list(range(n))  # disjoint and covering
    assert all(isinstance(s, D.Subset) for s in ours)


@pytest.mark.parametrize("lengths", [[3, 3], [0.5, 0.6], [1.2, -0.2], [4, 7]])
def test_random_split_errors_match_torch(lengths, torch):
    with pytest.raises(ValueError) as theirs:
        torch.utils.data.random_split(range(10), lengths)
    with pytest.raises(ValueError) as ours:
        D.random_split(range(10), lengths)
    assert str(ours.value) == str(theirs.value)


def test_random_split_bad_lengths_and_generators():
    with pytest.raises(ValueError, match="non-negative ints"):
        D.random_split(range(4), [2.5, 1.5])
    with pytest.raises(TypeError, match="an int seed or a numpy.random.Generator, got str"):
        D.random_split(range(4), [2, 2], generator="seed")


def split_indices(**kw):
    return [list(s.indices) for s in D.random_split(range(20), [0.5, 0.25, 0.25], **kw)]


def test_random_split_reproducible():
    dygrad.manual_seed(0)
    a = split_indices()
    dygrad.manual_seed(0)
    assert split_indices() == a
    assert split_indices() != a  # the global generator moved on
    dygrad.manual_seed(1)
    assert split_indices() != a
    assert split_indices(generator=42) == split_indices(generator=42)
    assert split_indices(generator=42) != split_indices(generator=43)
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    assert split_indices(generator=g1) == split_indices(generator=g2)
    # A generator argument leaves dygrad's own stream alone.
    dygrad.manual_seed(0)
    split_indices(generator=3)
    assert split_indices() == a


# ---------------------------------------------------------------------------------------------
# Samplers


@pytest.mark.parametrize("n", [0, 1, 5, 7])
@pytest.mark.parametrize("bs", [1, 2, 3, 8])
@pytest.mark.parametrize("drop_last", [False, True])
def test_batch_sampler_matches_torch(n, bs, drop_last, torch):
    theirs = torch.utils.data.BatchSampler(range(n), bs, drop_last)
    ours = D.BatchSampler(D.SequentialSampler(range(n)), bs, drop_last)
    assert list(ours) == list(theirs) and len(ours) == len(theirs)


@pytest.mark.parametrize(
    "kw", [dict(batch_size=0), dict(batch_size=True), dict(batch_size=2.0), dict(drop_last=1)]
)
def test_batch_sampler_errors_match_torch(kw, torch):
    args = dict(batch_size=2, drop_last=False) | kw
    with pytest.raises(ValueError) as theirs:
        torch.utils.data.BatchSampler(range(3), **args)
    with pytest.raises(ValueError) as ours:
        D.BatchSampler(range(3), **args)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize(
    "kw,err",
    [(dict(replacement=1), TypeError), (dict(num_samples=0), ValueError),
     (dict(num_samples=-1), ValueError), (dict(num_samples=2.0), ValueError)],
)  # fmt: skip
def test_random_sampler_errors_match_torch(kw, err, torch):
    with pytest.raises(err) as theirs:
        torch.utils.data.RandomSampler(range(3), **kw)
    with pytest.raises(err) as ours:
        D.RandomSampler(range(3), **kw)
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError) as theirs:
        torch.utils.data.RandomSampler([])
    with pytest.raises(ValueError) as ours:
        D.RandomSampler([])
    assert str(ours.value) == str(theirs.value)


def test_random_sampler():
    dygrad.manual_seed(0)
    s = D.RandomSampler(range(10))
    a, b = list(s), list(s)
    assert sorted(a) == sorted(b) == list(range(10)) and a != b and len(s) == 10
    dygrad.manual_seed(0)
    assert list(D.RandomSampler(range(10))) == a  # seeding after construction counts too
    many = list(D.RandomSampler(range(4), num_samples=10, generator=0))
    assert len(many) == 10 and sorted(many[:4]) == sorted(many[4:8]) == [0, 1, 2, 3]
    assert len(set(many[8:])) == 2
    rep = list(D.RandomSampler(range(3), replacement=True, num_samples=50, generator=1))
    assert len(rep) == 50 and set(rep) == {0, 1, 2}
    assert list(D.RandomSampler(range(6), generator=7)) == list(
        D.RandomSampler(range(6), generator=np.random.default_rng(7))
    )


def test_subset_and_weighted_samplers():
    s = D.SubsetRandomSampler([10, 20, 30], generator=0)
    assert sorted(s) == [10, 20, 30] and len(s) == 3
    w = D.WeightedRandomSampler([0.0, 0.0, 1.0, 3.0], 200, generator=0)
    counts = np.bincount(list(w), minlength=4)
    assert counts[:2].tolist() == [0, 0] and 120 < counts[3] < 180 and len(w) == 200
    assert sorted(D.WeightedRandomSampler([1, 1, 1], 3, replacement=False, generator=0)) == [
        0,
        1,
        2,
    ]
    with pytest.raises(ValueError, match="weights should be a 1d sequence"):
        D.WeightedRandomSampler([[1.0]], 1)
    with pytest.raises(RuntimeError, match="without replacement"):
        D.WeightedRandomSampler([1.0, 0.0], 2, replacement=False)
    with pytest.raises(NotImplementedError):
        iter(D.Sampler())


# ---------------------------------------------------------------------------------------------
# DataLoader


def xy(L, n=10):
    return L.arange(n * 2.0).reshape(n, 2), L.arange(n) % 3


@pytest.mark.parametrize("n", [0, 1, 5, 10])
@pytest.mark.parametrize("bs", [1, 3, 10, 32])
@pytest.mark.parametrize("drop_last", [False, True])
def test_dataloader_batches_and_len_match_torch(n, bs, drop_last, torch):
    ours = D.DataLoader(D.TensorDataset(*xy(dygrad, n)), batch_size=bs, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(*xy(torch, n)), batch_size=bs, drop_last=drop_last
    )
    assert len(ours) == len(theirs)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want) == len(ours)
    for a, b in zip(got, want):
        assert_same(tuple(a), tuple(b), torch)


class DictDataset(D.Dataset):
    def __init__(self, L, n):
        self.L, self.n = L, n

    def __getitem__(self, i):
        L = self.L
        return {"image": L.full((1, 2), float(i)), "label": i % 2, "weight": 0.5 * i,
                "meta": {"name": f"s{i}", "shape": (1, 2)}}  # fmt: skip

    def __len__(self):
        return self.n


@pytest.mark.parametrize("bs", [1, 4, None])
def test_dataloader_dict_samples_match_torch(bs, torch):
    ours = list(D.DataLoader(DictDataset(dygrad, 6), batch_size=bs))
    theirs = list(torch.utils.data.DataLoader(DictDataset(torch, 6), batch_size=bs))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert_same(a, b, torch)


def test_dataloader_python_and_numpy_samples_match_torch(torch):
    samples = [(np.full(2, i, np.float32), i, float(i), "t") for i in range(5)]
    ours = list(D.DataLoader(samples, batch_size=2))
    theirs = list(torch.utils.data.DataLoader(samples, batch_size=2))
    for a, b in zip(ours, theirs):
        assert_same(a, b, torch)


def test_dataloader_fast_path_equals_general_path():
    x, y = xy(dygrad, 9)
    ds = D.TensorDataset(x, y)

    class Plain(D.TensorDataset):  # a subclass takes the general, per-sample path
        pass

    for kw in [dict(batch_size=4), dict(batch_size=4, drop_last=True)]:
        fast = list(D.DataLoader(ds, **kw))
        slow = list(D.DataLoader(Plain(x, y), **kw))
        custom = list(D.DataLoader(ds, collate_fn=lambda b: D.default_collate(b), **kw))
        for f, s, c in zip(fast, slow, custom, strict=True):
            for a, b, cc in zip(f, s, c):
                assert a.dtype == b.dtype == cc.dtype and a.shape == b.shape == cc.shape
                assert a.tolist() == b.tolist() == cc.tolist()


def epoch_order(loader):
    return [int(v) for _, y in loader for v in y.tolist()]


def test_dataloader_shuffle_reproducible_with_manual_seed():
    ds = D.TensorDataset(dygrad.zeros(20, 1), dygrad.arange(20))
    dygrad.manual_seed(0)
    loader = D.DataLoader(ds, batch_size=6, shuffle=True)
    e1, e2 = epoch_order(loader), epoch_order(loader)
    assert sorted(e1) == sorted(e2) == list(range(20))
    assert e1 != e2 and e1 != list(range(20))
    dygrad.manual_seed(0)
    loader = D.DataLoader(ds, batch_size=6, shuffle=True)
    assert epoch_order(loader) == e1 and epoch_order(loader) == e2
    dygrad.manual_seed(1)
    assert epoch_order(loader) != e1


def test_dataloader_shuffle_with_generator():
    ds = D.TensorDataset(dygrad.zeros(20, 1), dygrad.arange(20))
    a = D.DataLoader(ds, batch_size=5, shuffle=True, generator=3)
    b = D.DataLoader(ds, batch_size=5, shuffle=True, generator=np.random.default_rng(3))
    a1, a2 = epoch_order(a), epoch_order(a)
    assert a1 != a2 and epoch_order(b) == a1 and epoch_order(b) == a2
    dygrad.manual_seed(0)
    c = D.DataLoader(ds, batch_size=5, shuffle=True, generator=3)
    dygrad.manual_seed(99)  # the global seed does not matter with a generator
    assert epoch_order(c) == a1
    assert a.generator == 3


def test_dataloader_shuffle_drop_last():
    ds = D.TensorDataset(dygrad.zeros(10, 1), dygrad.arange(10))
    loader = D.DataLoader(ds, batch_size=4, shuffle=True, drop_last=True, generator=0)
    batches = [y.tolist() for _, y in loader]
    assert len(loader) == len(batches) == 2 and all(len(b) == 4 for b in batches)
    assert len(set(sum(batches, []))) == 8


def test_dataloader_batch_size_larger_than_dataset():
    ds = D.TensorDataset(dygrad.ones(3, 2))
    assert [b[0].shape for b in D.DataLoader(ds, batch_size=100)] == [(3, 2)]
    assert len(D.DataLoader(ds, batch_size=100)) == 1
    assert list(D.DataLoader(ds, batch_size=100, drop_last=True)) == []
    assert len(D.DataLoader(ds, batch_size=100, drop_last=True)) == 0


def test_dataloader_empty_dataset(torch):
    for ds in ([], D.TensorDataset(dygrad.zeros(0, 3))):
        loader = D.DataLoader(ds, batch_size=4)
        assert len(loader) == 0 and list(loader) == []
    # Like PyTorch, shuffling an empty dataset is refused when the loader is made.
    with pytest.raises(ValueError) as theirs:
        torch.utils.data.DataLoader([], shuffle=True)
    with pytest.raises(ValueError) as ours:
        D.DataLoader([], shuffle=True)
    assert str(ours.value) == str(theirs.value)


def test_dataloader_samplers_and_collate_fn(torch):
    ds = list(range(10))
    ours = D.DataLoader(ds, batch_size=3, sampler=[9, 8, 7, 1])
    assert [b.tolist() for b in ours] == [[9, 8, 7], [1]] and len(ours) == 2
    ours = D.DataLoader(ds, batch_sampler=[[0, 1], [5]])
    assert [b.tolist() for b in ours] == [[0, 1], [5]]
    assert ours.batch_size is None and ours.drop_last is False
    ours = D.DataLoader(ds, batch_size=4, collate_fn=lambda b: sum(b))
    assert list(ours) == [6, 22, 17]
    ours = D.DataLoader(ds, batch_size=None, sampler=[3, 1])
    theirs = torch.utils.data.DataLoader(ds, batch_size=None, sampler=[3, 1])
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        assert_same(a, b, torch)


def test_dataloader_uses_getitems():
    class Batched(D.Dataset):
        calls = []

        def __getitems__(self, idx):
            self.calls.append(list(idx))
            return [i * 10 for i in idx]

        def __len__(self):
            return 5

    loader = D.DataLoader(Batched(), batch_size=2)
    assert [b.tolist() for b in loader] == [[0, 10], [20, 30], [40]]
    assert Batched.calls == [[0, 1], [2, 3], [4]]
    # A Subset of a TensorDataset batches through the base dataset.
    sub = D.Subset(D.TensorDataset(dygrad.arange(10)), [9, 3, 5])
    assert [b[0].tolist() for b in D.DataLoader(sub, batch_size=2)] == [[9, 3], [5]]


@pytest.mark.parametrize(
    "kw",
    [dict(shuffle=True, sampler=[0]), dict(batch_sampler=[[0]], batch_size=2),
     dict(batch_sampler=[[0]], shuffle=True), dict(batch_sampler=[[0]], drop_last=True),
     dict(batch_sampler=[[0]], sampler=[0]), dict(batch_size=None, drop_last=True),
     dict(num_workers=-1), dict(timeout=-1), dict(prefetch_factor=2),
     dict(persistent_workers=True), dict(batch_size=0)],
)  # fmt: skip
def test_dataloader_option_errors_match_torch(kw, torch):
    with pytest.raises(ValueError) as theirs:
        torch.utils.data.DataLoader(list(range(4)), **kw)
    with pytest.raises(ValueError) as ours:
        D.DataLoader(list(range(4)), **kw)
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("kw", [dict(shuffle=True), dict(sampler=[0]), dict(batch_sampler=[[0]])])
def test_dataloader_iterable_dataset_option_errors_match_torch(kw, torch):
    class TCount(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    with pytest.raises(ValueError) as theirs:
        torch.utils.data.DataLoader(TCount(), **kw)
    with pytest.raises(ValueError) as ours:
        D.DataLoader(Count(3), **kw)
    assert str(ours.value).split(", but got")[0] == str(theirs.value).split(", but got")[0]


@pytest.mark.parametrize("n", [0, 4, 5])
@pytest.mark.parametrize("bs", [2, None])
@pytest.mark.parametrize("drop_last", [False, True])
def test_dataloader_iterable_dataset_matches_torch(n, bs, drop_last, torch):
    if bs is None and drop_last:
        return

    class TCount(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(n))

        def __len__(self):
            return n

    ours = D.DataLoader(Count(n), batch_size=bs, drop_last=drop_last)
    theirs = torch.utils.data.DataLoader(TCount(), batch_size=bs, drop_last=drop_last)
    got, want = list(ours), list(theirs)
    assert len(got) == len(want)
    for a, b in zip(got, want):
        assert_same(a, b, torch)
    if drop_last:  # PyTorch warns when an iterable's real length disagrees with len(); skip
        return
    assert len(ours) == len(theirs)


def test_dataloader_iterable_without_len():
    loader = D.DataLoader(Count(5, with_len=False), batch_size=2)
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3], [4]]
    with pytest.raises(TypeError):
        len(loader)


def test_dataloader_num_workers_runs_in_process():
    ds = D.TensorDataset(dygrad.arange(7))
    with pytest.warns(UserWarning, match="loaded in the main process"):
        loader = D.DataLoader(ds, batch_size=3, num_workers=2, persistent_workers=True)
    assert [b[0].tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]
    assert D.get_worker_info() is None


def test_dataloader_attributes_frozen_after_init(torch):
    ours = D.DataLoader([1, 2, 3], batch_size=2)
    theirs = torch.utils.data.DataLoader([1, 2, 3], batch_size=2)
    for name in ("batch_size", "sampler", "dataset", "drop_last"):
        with pytest.raises(ValueError) as t:
            setattr(theirs, name, None)
        with pytest.raises(ValueError) as o:
            setattr(ours, name, None)
        assert str(o.value) == str(t.value)
    ours.collate_fn = list  # others may change
    assert list(ours) == [[1, 2], [3]]


def test_dataloader_trains_a_model_end_to_end():
    # The loop every training script writes: shuffle, batch, forward, backward.
    dygrad.manual_seed(0)
    x = dygrad.randn(64, 3)
    w_true = dygrad.tensor([[1.0], [-2.0], [0.5]])
    y = x @ w_true
    w = dygrad.zeros(3, 1, requires_grad=True)
    loader = D.DataLoader(D.TensorDataset(x, y), batch_size=16, shuffle=True)
    for _ in range(60):
        for xb, yb in loader:
            loss = ((xb @ w - yb) ** 2).mean()
            loss.backward()
            with dygrad.no_grad():
                w -= 0.1 * w.grad
            w.grad = None
    np.testing.assert_allclose(w.detach().numpy(), w_true.numpy(), atol=1e-3)
