"""nn.functional: attention (`scaled_dot_product_attention`, `multi_head_attention_forward`),
composed from matmul, softmax and masked_fill, with PyTorch's mask semantics."""

from __future__ import annotations

import math
import warnings
from typing import Any

from ...creation import arange, zeros
from ...dtypes import bool_
from ...functions import cat
from ...ops import nnops
from ...tensor import Tensor

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]

_NEG_INF = float("-inf")


def _dropout(x: Tensor, p: float) -> Tensor:
    return nnops.dropout(x, p, True)


def _linear(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    y = x.matmul(w.t())
    return y if b is None else y + b


def _masked_softmax(w: Tensor, dead_rows: Tensor | None) -> Tensor:
    # PyTorch's math kernel gives rows with every key masked zero weights (not NaN); filling
    # those rows before the softmax as well keeps NaN out of the backward pass.
    if dead_rows is None:
        return w.softmax(-1)
    return w.masked_fill(dead_rows, 0.0).softmax(-1).masked_fill(dead_rows, 0.0)


def _check_qkv(query: Any, key: Any, value: Any) -> None:
    for name, t in (("query", query), ("key", key), ("value", value)):
        if not isinstance(t, Tensor):
            raise TypeError(
                f"scaled_dot_product_attention(): argument '{name}' must be Tensor, "
                f"not {type(t).__name__}"
            )
        if t.ndim < 2:
            raise RuntimeError(
                f"scaled_dot_product_attention: {name} must be at least 2-D, got {t.ndim}-D"
            )
        if not t.is_floating_point():
            raise RuntimeError(
                f"scaled_dot_product_attention: expected {name} to be a floating point "
                f"tensor, got {t.dtype}"
            )
    if not (query.dtype == key.dtype == value.dtype):
        raise RuntimeError(
            "Expected query, key, and value to have the same dtype, but got query.dtype: "
            f"{query.dtype} key.dtype: {key.dtype} and value.dtype: {value.dtype} instead."
        )
    if key.shape[-1] != query.shape[-1]:
        raise RuntimeError(
            "scaled_dot_product_attention: query and key must have the same embedding size, "
            f"got query {tuple(query.shape)} and key {tuple(key.shape)}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            "scaled_dot_product_attention: key and value must have the same sequence length, "
            f"got key {tuple(key.shape)} and value {tuple(value.shape)}"
        )


def _repeat_heads(t: Tensor, n: int) -> Tensor:
    # repeat_interleave(n, dim=-3): each head of key/value serves n consecutive query heads.
    if n == 1:
        return t
    shape = tuple(t.shape)
    e = t.unsqueeze(-3).expand(*shape[:-2], n, *shape[-2:])
    return e.reshape(*shape[:-3], shape[-3] * n, *shape[-2:])


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Tensor | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(query @ key^T * scale + mask) @ value
    (`torch.nn.functional.scaled_dot_product_attention`).

    A boolean `attn_mask` marks with True the positions that take part in attention; a float
    mask is added to the scores. `is_causal` masks the upper triangle (top-left aligned). Rows
    where every key is masked out give zeros, as PyTorch's kernels do. `dropout_p` is always
    applied (pass 0.0 in evaluation).

    >>> import dygrad as torch
    >>> import dygrad.nn.functional as F
    >>> q = k = v = torch.ones(1, 2, 3, 4)
    >>> F.scaled_dot_product_attention(q, k, v, is_causal=True).shape
    torch.Size([1, 2, 3, 4])
    """
    _check_qkv(query, key, value)
    if is_causal and attn_mask is not None:
        raise RuntimeError(
            "_scaled_dot_product_attention: Explicit attn_mask should not be set when "
            "is_causal=True"
        )
    if attn_mask is not None:
        if not isinstance(attn_mask, Tensor):
            raise TypeError(
                "scaled_dot_product_attention(): argument 'attn_mask' must be Tensor, "
                f"not {type(attn_mask).__name__}"
            )
        if attn_mask.dtype != bool_ and attn_mask.dtype != query.dtype:
            raise RuntimeError(
                "Expected attn_mask dtype to be bool or float or to match query dtype, but "
                f"got attn_mask.dtype: {attn_mask.dtype} and query.dtype: {query.dtype} "
                "instead."
            )
    if enable_gqa:
        hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
        if hq % hk or hq % hv or hk != hv:
            raise RuntimeError(
                "scaled_dot_product_attention: with enable_gqa=True the number of query heads "
                f"({hq}) must be a multiple of the key/value heads ({hk}, {hv})"
            )
        key = _repeat_heads(key, hq // hk)
        value = _repeat_heads(value, hq // hv)
    L, S = query.shape[-2], key.shape[-2]
    s = 1.0 / math.sqrt(query.shape[-1]) if scale is None else float(scale)
    w = query.matmul(key.transpose(-2, -1)) * s
    dead = None
    if is_causal:
        w = w.masked_fill(arange(L).unsqueeze(-1) < arange(S), _NEG_INF)
    elif attn_mask is not None:
        if attn_mask.dtype == bool_:
            w = w.masked_fill(attn_mask.logical_not(), _NEG_INF)
            dead = attn_mask.any(-1, keepdim=True).logical_not()
        else:
            w = w + attn_mask
            dead = (attn_mask == _NEG_INF).all(-1, keepdim=True)
        dead = dead if bool(dead.any()) else None
    attn = _masked_softmax(w, dead)
    if dropout_p > 0.0:
        attn = _dropout(attn, dropout_p)
    return attn.matmul(value)


# ---------------------------------------------------------------------------------------------
# multi-head attention (PyTorch's F.multi_head_attention_forward, step for step)


def _canonical_mask(
    mask: Tensor | None,
    name: str,
    other: Tensor | None,
    other_name: str,
    dtype: Any,
    check_other: bool = True,
) -> Tensor | None:
    # Bool masks (True = masked out) become float masks of -inf and 0 in the query's dtype.
    if mask is None:
        return None
    if mask.dtype != bool_ and not mask.is_floating_point():
        raise AssertionError(f"only bool and floating types of {name} are supported")
    if check_other and other is not None and other.dtype != mask.dtype:
        warnings.warn(
            f"Support for mismatched {name} and {other_name} is deprecated. Use same type for "
            "both instead.",
            stacklevel=3,
        )
    if mask.dtype == bool_:
        mask = zeros(tuple(mask.shape), dtype=dtype).masked_fill(mask, _NEG_INF)
    return mask


def _pad_last(t: Tensor) -> Tensor:
    # F.pad(t, (0, 1)): one more key position, open to attention.
    return cat([t, zeros((*t.shape[:-1], 1), dtype=t.dtype)], -1)


def _mha_shape_check(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    key_padding_mask: Tensor | None,
    attn_mask: Tensor | None,
    num_heads: int,
) -> bool:
    if query.ndim == 3:
        if key.ndim != 3 or value.ndim != 3:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                f"{key.ndim}-D and {value.ndim}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.ndim != 2:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D but "
                f"found {key_padding_mask.ndim}-D tensor instead"
            )
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise AssertionError(
                "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D but "
                f"found {attn_mask.ndim}-D tensor instead"
            )
        return True
    if query.ndim == 2:
        if key.ndim != 2 or value.ndim != 2:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                f"{key.ndim}-D and {value.ndim}-D tensors respectively"
            )
        if key_padding_mask is not None and key_padding_mask.ndim != 1:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D "
                f"but found {key_padding_mask.ndim}-D tensor instead"
            )
        if attn_mask is not None:
            if attn_mask.ndim not in (2, 3):
                raise AssertionError(
                    "For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D "
                    f"but found {attn_mask.ndim}-D tensor instead"
                )
            if attn_mask.ndim == 3:
                expected = (num_heads, query.shape[0], key.shape[0])
                if tuple(attn_mask.shape) != expected:
                    raise AssertionError(
                        f"Expected `attn_mask` shape to be {expected} but got {attn_mask.shape}"
                    )
        return False
    raise AssertionError(
        "query should be unbatched 2D or batched 3D tensor but received "
        f"{query.ndim}-D query tensor"
    )


def _in_projection(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    w: Tensor | None,
    b: Tensor | None,
    separate: bool,
    q_w: Tensor | None,
    k_w: Tensor | None,
    v_w: Tensor | None,
) -> tuple[Tensor, Tensor, Tensor]:
    E = query.shape[-1]
    bq = bk = bv = None
    if b is not None:
        bq, bk, bv = b.chunk(3)
    if not separate:
        if w is None:
            raise AssertionError("use_separate_proj_weight is False but in_proj_weight is None")
        if key is value and query is key:  # self-attention: one product for q, k and v
            q, k, v = _linear(query, w, b).chunk(3, -1)
            return q, k, v
        wq, wk, wv = w.chunk(3)
        return _linear(query, wq, bq), _linear(key, wk, bk), _linear(value, wv, bv)
    for kind, t, shape in (
        ("query", q_w, (E, E)),
        ("key", k_w, (E, key.shape[-1])),
        ("value", v_w, (E, value.shape[-1])),
    ):
        if t is None:
            name = f"{kind[0]}_proj_weight"
            raise AssertionError(f"use_separate_proj_weight is True but {name} is None")
        if tuple(t.shape) != shape:
            raise AssertionError(f"expecting {kind} weights shape of {shape}, but got {t.shape}")
    return _linear(query, q_w, bq), _linear(key, k_w, bk), _linear(value, v_w, bv)  # type: ignore[arg-type]


def multi_head_attention_forward(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight: Tensor | None,
    in_proj_bias: Tensor | None,
    bias_k: Tensor | None,
    bias_v: Tensor | None,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight: Tensor,
    out_proj_bias: Tensor | None,
    training: bool = True,
    key_padding_mask: Tensor | None = None,
    need_weights: bool = True,
    attn_mask: Tensor | None = None,
    use_separate_proj_weight: bool = False,
    q_proj_weight: Tensor | None = None,
    k_proj_weight: Tensor | None = None,
    v_proj_weight: Tensor | None = None,
    static_k: Tensor | None = None,
    static_v: Tensor | None = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[Tensor, Tensor | None]:
    """The forward pass of `nn.MultiheadAttention` on sequence-first inputs
    (`torch.nn.functional.multi_head_attention_forward`). Boolean masks mark with True the
    positions that may *not* be attended (the opposite of `scaled_dot_product_attention`).

    >>> import dygrad as torch
    >>> import dygrad.nn.functional as F
    >>> x = torch.ones(3, 2, 4)  # (L, N, E)
    >>> w, b = torch.eye(4).repeat(3, 1), torch.zeros(12)
    >>> out, wts = F.multi_head_attention_forward(x, x, x, 4, 2, w, b, None, None, False, 0.0,
    ...                                           torch.eye(4), None)
    >>> out.shape, wts.shape
    (torch.Size([3, 2, 4]), torch.Size([2, 3, 3]))
    """
    batched = _mha_shape_check(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    tgt_len, bsz, embed_dim = query.shape
    src_len = key.shape[0]

    key_padding_mask = _canonical_mask(
        key_padding_mask, "key_padding_mask", attn_mask, "attn_mask", query.dtype
    )
    if is_causal and attn_mask is None:
        raise RuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
            "module method `generate_square_subsequent_mask` to create this mask."
        )
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # scaled_dot_product_attention builds the causal mask itself
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", None, "", query.dtype, False)
        if key_padding_mask is not None:
            is_causal = False

    if embed_dim != embed_dim_to_check:
        raise AssertionError(
            f"was expecting embedding dimension of {embed_dim_to_check}, but got {embed_dim}"
        )
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(
                f"key's sequence and batch dims {key.shape[:2]} do not match value's "
                f"{value.shape[:2]}"
            )
    elif tuple(key.shape) != tuple(value.shape):
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")
    if key.shape[1] != bsz:
        # Caught here: the head split below would only report a failed reshape.
        raise AssertionError(
            f"key's batch size ({key.shape[1]}) does not match query's batch size ({bsz})"
        )

    q, k, v = _in_projection(
        query, key, value, in_proj_weight, in_proj_bias, use_separate_proj_weight,
        q_proj_weight, k_proj_weight, v_proj_weight,
    )  # fmt: skip

    if attn_mask is not None:
        if attn_mask.ndim == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise RuntimeError(
                    f"The shape of the 2D attn_mask is {attn_mask.shape}, but should be "
                    f"{(tgt_len, src_len)}."
                )
            attn_mask = attn_mask.unsqueeze(0)
        elif tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
            raise RuntimeError(
                f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                f"{(bsz * num_heads, tgt_len, src_len)}."
            )

    if bias_k is not None and bias_v is not None:
        if static_k is not None or static_v is not None:
            raise AssertionError("bias cannot be added to static key.")
        k = cat([k, bias_k.repeat(1, bsz, 1)])
        v = cat([v, bias_v.repeat(1, bsz, 1)])
        if attn_mask is not None:
            attn_mask = _pad_last(attn_mask)
        if key_padding_mask is not None:
            key_padding_mask = _pad_last(key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        which = "bias_k" if bias_k is not None else "bias_v"
        other = "bias_v" if bias_k is not None else "bias_k"
        raise AssertionError(f"{which} is set but {other} is None")

    # (L, N, E) -> (N * heads, L, head_dim)
    q = q.reshape(tgt_len, bsz * num_heads, head_dim).transpose(0, 1)
    for name, static in (("static_k", static_k), ("static_v", static_v)):
        if static is not None:
            if static.shape[0] != bsz * num_heads:
                raise AssertionError(
                    f"expecting {name}.size(0) of {bsz * num_heads}, but got {static.shape[0]}"
                )
            if static.shape[2] != head_dim:
                raise AssertionError(
                    f"expecting {name}.size(2) of {head_dim}, but got {static.shape[2]}"
                )
    if static_k is None:
        k = k.reshape(k.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        k = static_k
    if static_v is None:
        v = v.reshape(v.shape[0], bsz * num_heads, head_dim).transpose(0, 1)
    else:
        v = static_v

    if add_zero_attn:
        z = zeros((bsz * num_heads, 1, head_dim), dtype=k.dtype)
        k = cat([k, z], 1)
        v = cat([v, z.to(v.dtype)], 1)
        if attn_mask is not None:
            attn_mask = _pad_last(attn_mask)
        if key_padding_mask is not None:
            key_padding_mask = _pad_last(key_padding_mask)

    src_len = k.shape[1]
    if key_padding_mask is not None:
        if key_padding_mask.shape[0] != bsz:
            raise AssertionError(
                f"Expected key_padded_mask.shape[0] to be {bsz}, but got "
                f"{key_padding_mask.shape[0]}"
            )
        if key_padding_mask.shape[1] != src_len:
            raise AssertionError(
                f"Expected key_padded_mask.shape[1] to be {src_len}, but got "
                f"{key_padding_mask.shape[1]}"
            )
        kpm = (
            key_padding_mask.reshape(bsz, 1, 1, src_len)
            .expand(bsz, num_heads, 1, src_len)
            .reshape(bsz * num_heads, 1, src_len)
        )
        attn_mask = kpm if attn_mask is None else attn_mask + kpm

    if not training:
        dropout_p = 0.0

    if need_weights:
        if is_causal and attn_mask is None:  # pragma: no cover - unreachable, as in PyTorch
            raise AssertionError("FIXME: is_causal not implemented for need_weights")
        w = (q * math.sqrt(1.0 / float(head_dim))).matmul(k.transpose(-2, -1))
        if attn_mask is not None:
            w = attn_mask + w
        w = w.softmax(-1)
        if dropout_p > 0.0:
            w = _dropout(w, dropout_p)
        out = w.matmul(v).transpose(0, 1).reshape(tgt_len * bsz, embed_dim)
        out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
        w = w.reshape(bsz, num_heads, tgt_len, src_len)
        if average_attn_weights:
            w = w.mean(1)
        if not batched:
            out, w = out.squeeze(1), w.squeeze(0)
        return out, w

    if attn_mask is not None:
        if attn_mask.shape[0] == 1 and attn_mask.ndim == 3:
            attn_mask = attn_mask.unsqueeze(0)
        else:
            attn_mask = attn_mask.reshape(bsz, num_heads, -1, src_len)
    q = q.reshape(bsz, num_heads, tgt_len, head_dim)
    k = k.reshape(bsz, num_heads, src_len, head_dim)
    v = v.reshape(bsz, num_heads, src_len, head_dim)
    out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
    out = out.permute(2, 0, 1, 3).reshape(bsz * tgt_len, embed_dim)
    out = _linear(out, out_proj_weight, out_proj_bias).reshape(tgt_len, bsz, -1)
    if not batched:
        out = out.squeeze(1)
    return out, None
