"""Misuse of ops and autograd: each case raises a clear error naming the problem in the user's
terms, before any tensor, version counter, gradient or graph changes."""

import numpy as np
import pytest

import dygrad as torch


def make():
    """Fresh tensors for one case: leaves, a non-leaf, ints, bools."""
    a = torch.arange(6.0).reshape(2, 3).requires_grad_()
    return {
        "a": a,  # leaf (2, 3) requiring grad
        "h": a * 1,  # non-leaf (2, 3)
        "b": torch.ones(3, 2),
        "v": torch.ones(4),
        "i": torch.arange(6).reshape(2, 3),
        "m": torch.tensor([[True, False, True], [False, True, False]]),
        "s": torch.tensor(2.0, requires_grad=True),
    }


# (id, callable on the dict of tensors, exception type, message fragment)
CASES = [
    ("add shapes", lambda t: t["a"] + t["v"], RuntimeError,
     "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"),
    ("mul shapes", lambda t: t["h"] * torch.ones(5, 1, 2), RuntimeError, "must match the size"),
    ("add str", lambda t: t["a"] + "x", TypeError, "got str"),
    ("mul None", lambda t: t["a"] * None, TypeError, "got NoneType"),
    ("mm shapes", lambda t: t["a"] @ t["a"], RuntimeError,
     "mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)"),
    ("mm 0d", lambda t: t["s"] @ t["a"], RuntimeError, "both arguments to matmul need to be at "
     "least 1D"),
    ("bmm rank", lambda t: t["a"].bmm(t["b"]), RuntimeError, "must be 3D"),
    ("dot sizes", lambda t: t["v"].dot(torch.ones(3)), RuntimeError, "inconsistent tensor size"),
    ("view size", lambda t: t["a"].view(4), RuntimeError, "shape '[4]' is invalid for input of "
     "size 6"),
    ("reshape two -1", lambda t: t["a"].reshape(-1, -1), RuntimeError, "only one dimension can "
     "be inferred"),
    ("view non-contiguous", lambda t: t["a"].t().view(6), RuntimeError, "view size is not "
     "compatible"),
    ("sum dim range", lambda t: t["a"].sum(dim=2), IndexError, "Dimension out of range (expected "
     "to be in range of [-2, 1], but got 2)"),
    ("mean int", lambda t: t["i"].mean(), RuntimeError, "mean(): could not infer output dtype"),
    ("mean dim repeated", lambda t: t["a"].mean((0, 0)), RuntimeError, "appears multiple times"),
    ("max empty", lambda t: torch.ones(0).max(), RuntimeError, "numel() == 0"),
    ("softmax dim", lambda t: t["a"].softmax(5), IndexError, "Dimension out of range"),
    ("transpose dim", lambda t: t["a"].transpose(0, 3), IndexError, "Dimension out of range"),
    ("permute len", lambda t: t["a"].permute(0), RuntimeError, "does not match the length"),
    ("expand", lambda t: t["a"].expand(4, 3, 2), RuntimeError, "The expanded size of the tensor"),
    ("expand fewer", lambda t: t["a"].expand(3), RuntimeError, "must be greater or equal"),
    ("repeat short", lambda t: t["a"].repeat(2), RuntimeError, "can not be smaller"),
    ("cat sizes", lambda t: torch.cat([t["a"], t["b"]]), RuntimeError,
     "Sizes of tensors must match except in dimension 0"),
    ("cat rank", lambda t: torch.cat([t["a"], t["v"]]), RuntimeError, "same number of dimensions"),
    ("cat empty list", lambda t: torch.cat([]), RuntimeError, "non-empty list"),
    ("cat not list", lambda t: torch.cat(t["a"]), TypeError, "must be a tuple or list"),
    ("stack sizes", lambda t: torch.stack([t["a"], t["b"]]), RuntimeError,
     "stack expects each tensor to be equal size"),
    ("split sizes", lambda t: t["a"].split([1, 1], 1), RuntimeError, "sum exactly to 3"),
    ("chunk 0", lambda t: t["a"].chunk(0), RuntimeError, "greater than 0"),
    ("index range", lambda t: t["a"][5], IndexError, "index 5 is out of bounds for dimension 0 "
     "with size 2"),
    ("index too many", lambda t: t["a"][0, 0, 0], IndexError, "too many indices"),
    ("index float", lambda t: t["a"][1.5], IndexError, "only integers, slices"),
    ("index tensor float", lambda t: t["a"][torch.tensor([0.5])], IndexError, "must be long"),
    ("index mask shape", lambda t: t["a"][torch.tensor([True, False, True])], IndexError,
     "The shape of the mask"),
    ("index negative step", lambda t: t["a"][::-1], ValueError, "step must be greater than zero"),
    ("gather index dtype", lambda t: t["a"].gather(1, torch.tensor([[0.0]])), RuntimeError,
     "index must be an integer tensor"),
    ("gather rank", lambda t: t["a"].gather(1, torch.tensor([0])), RuntimeError,
     "same number of dimensions"),
    ("gather range", lambda t: t["a"].gather(1, torch.tensor([[7]])), RuntimeError,
     "out of bounds for dimension 1 with size 3"),
    ("index_select range", lambda t: t["a"].index_select(0, torch.tensor([9])), IndexError,
     "index out of range"),
    ("where cond dtype", lambda t: torch.where(t["i"], t["a"], t["a"]), RuntimeError,
     "where expected condition to be a boolean tensor"),
    ("masked_fill mask dtype", lambda t: t["a"].masked_fill(t["i"], 0.0), RuntimeError,
     "only supports boolean masks"),
    ("clamp no bounds", lambda t: t["a"].clamp(), RuntimeError, "At least one of 'min' or 'max'"),
    ("pow str", lambda t: t["a"] ** "2", TypeError, "exponent must be a Tensor or a number"),
    ("requires_grad int", lambda t: t["i"].requires_grad_(), RuntimeError,
     "only Tensors of floating point dtype can require gradients"),
    ("requires_grad non-leaf", lambda t: t["h"].requires_grad_(False), RuntimeError,
     "you can only change requires_grad flags of leaf variables"),
    ("inplace on leaf", lambda t: t["a"].add_(1), RuntimeError,
     "a leaf Variable that requires grad is being used in an in-place operation"),
    ("inplace leaf setitem", lambda t: t["a"].__setitem__(0, 1.0), RuntimeError,
     "a leaf Variable that requires grad"),
    ("inplace float into int", lambda t: t["i"].add_(1.5), RuntimeError,
     "result type Float can't be cast to the desired output type Long"),
    ("inplace broadcast grows", lambda t: t["v"].add_(torch.ones(2, 4)), RuntimeError,
     "output with shape [4] doesn't match the broadcast shape [2, 4]"),
    ("inplace nonleaf broadcast grows", lambda t: t["h"].mul_(torch.ones(2, 2, 3)), RuntimeError,
     "doesn't match the broadcast shape"),
    ("inplace int into bool", lambda t: t["m"].add_(2), RuntimeError, "can't be cast"),
    ("setitem shape", lambda t: t["b"].__setitem__(0, torch.ones(3)), RuntimeError,
     "must match the existing size"),
    ("copy_ shape", lambda t: t["v"].copy_(torch.ones(3)), RuntimeError, "must match the size"),
    ("backward non-scalar", lambda t: t["h"].backward(), RuntimeError,
     "grad can be implicitly created only for scalar outputs"),
    ("backward no grad", lambda t: t["b"].sum().backward(), RuntimeError,
     "element 0 of tensors does not require grad and does not have a grad_fn"),
    ("backward gradient shape", lambda t: t["h"].backward(torch.ones(3)), RuntimeError,
     "Mismatch in shape: grad_output[0] has a shape of torch.Size([3]) and output[0] has a "
     "shape of torch.Size([2, 3])"),
    ("grad of int output", lambda t: torch.autograd.grad(t["i"].sum(), t["a"]), RuntimeError,
     "does not require grad"),
    ("grad input no grad", lambda t: torch.autograd.grad(t["h"].sum(), t["b"]), RuntimeError,
     "One of the differentiated Tensors does not require grad"),
    ("grad unused", lambda t: torch.autograd.grad((t["a"] * 2).sum(), t["s"]), RuntimeError,
     "appears to not have been used in the graph"),
    ("grad empty inputs", lambda t: torch.autograd.grad(t["h"].sum(), []), RuntimeError,
     "non-empty inputs"),
    ("numpy of requires grad", lambda t: t["a"].numpy(), RuntimeError,
     "Can't call numpy() on Tensor that requires grad"),
    ("item of many", lambda t: t["a"].item(), RuntimeError, "a Tensor with 6 elements cannot be "
     "converted to Scalar"),
    ("bool of many", lambda t: bool(t["a"]), RuntimeError, "ambiguous"),
    ("assign grad shape", lambda t: setattr(t["a"], "grad", torch.ones(3)), RuntimeError,
     "assigned grad has data of a different size"),
    ("assign grad dtype", lambda t: setattr(t["a"], "grad", torch.ones(2, 3, dtype=torch.float64)),
     RuntimeError, "assigned grad has data of a different type"),
    ("register hook no grad", lambda t: t["b"].register_hook(lambda g: g), RuntimeError,
     "doesn't require gradient"),
    ("retain_grad no grad", lambda t: t["b"].retain_grad(), RuntimeError,
     "can't retain_grad on Tensor that has requires_grad=False"),
    ("device cuda", lambda t: torch.ones(2, device="cuda"), RuntimeError, "CPU only"),
    ("tensor ragged", lambda t: torch.tensor([[1, 2], [3]]), ValueError, "could not build"),
    ("dtype unknown", lambda t: torch.ones(2, dtype="complex64"), TypeError, "unknown dtype"),
    ("randint empty range", lambda t: torch.randint(3, 3, (2,)), RuntimeError, "less than"),
    ("arange zero step", lambda t: torch.arange(0, 1, 0), RuntimeError, "step must be nonzero"),
    ("div rounding mode", lambda t: t["a"].div(2, rounding_mode="up"), ValueError,
     "rounding_mode"),
]  # fmt: skip


def snapshot(ts):
    return {
        k: (t._data.copy(), t._version, t.grad_fn, None if t.grad is None else t.grad._data.copy(),
            t.requires_grad)
        for k, t in ts.items()
    }  # fmt: skip


@pytest.mark.parametrize("fn,exc,fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_clearly_and_changes_nothing(fn, exc, fragment):
    ts = make()
    before = snapshot(ts)
    with pytest.raises(exc) as info:
        fn(ts)
    assert fragment in str(info.value), str(info.value)
    after = snapshot(ts)
    for k in ts:
        d0, v0, fn0, g0, r0 = before[k]
        d1, v1, fn1, g1, r1 = after[k]
        np.testing.assert_array_equal(d0, d1, err_msg=f"{k} data changed")
        assert (v0, r0) == (v1, r1), f"{k} version or requires_grad changed"
        assert fn0 is fn1, f"{k} grad_fn changed"
        assert (g0 is None) == (g1 is None) and (g0 is None or np.array_equal(g0, g1))


def test_case_count():
    assert len(CASES) >= 60


def test_inplace_without_grad_errors_too():
    x = torch.arange(3)
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired output"):
        x.div_(2)
    assert x.tolist() == [0, 1, 2] and x._version == 0
