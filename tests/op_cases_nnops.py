"""Op-table rows for dygrad.ops.nnops (normalization, embedding, dropout, activations, losses),
run by test_ops.py against PyTorch and by test_ops_numeric.py against finite differences."""

from __future__ import annotations

import warnings
from typing import Any

from op_cases import C, F, I, K, idx

# Inputs that must be probabilities are made by sigmoid/softmax inside the case, so the loss is
# differentiated with respect to the logits (its grad_fn stays the loss's own).


def nf(m: Any) -> Any:
    return m.nn.functional


def quiet(fn: Any) -> Any:
    """Run a case with PyTorch's deprecation warnings (kl_div 'mean') silenced in both libraries."""

    def run(m: Any, *xs: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return fn(m, *xs)

    return run


def bn_train_stats(m: Any, x: Any, rm: Any, rv: Any, w: Any, b: Any) -> Any:
    y = nf(m).batch_norm(x, rm, rv, w, b, training=True, momentum=0.3)
    return y, rm, rv


T4 = idx([0, 2, 1, 1])  # class indices for 4 samples of 3 classes
T4_IGN = idx([0, 2, -100, 1])
T4_IGN1 = idx([0, 1, 2, 1])  # with ignore_index=1
T2x4 = idx([[0, 1, 2, 2], [1, 1, 0, 2]])  # (N=2, d=4) targets for (2, 3, 4) inputs
T2x2x2 = idx([[[0, 1], [2, 2]], [[1, 0], [0, 2]]])  # (2, 2, 2) targets for (2, 3, 2, 2)
T5D = idx([[[[0, 1], [2, 2]], [[1, 0], [0, 2]]]])  # (1, 2, 2, 2) targets for (1, 3, 2, 2, 2)
E = idx([[0, 2], [4, 2]])  # embedding indices into 5 rows
R = ("none", "mean", "sum")
# PyTorch's double backward of embedding leaves out the 1/count scaling of scale_grad_by_freq, so
# it is not the derivative of its backward; dygrad's is.
FREQ = {"gradgrad": "PyTorch's embedding double backward ignores scale_grad_by_freq"}
# padding_idx and scale_grad_by_freq shape only the gradient: the jvp is the plain lookup (as in
# PyTorch), so the vjp is not its transpose.
PAD = {"jvp_reverse": "padding_idx/scale_grad_by_freq change the gradient, not the jvp"}

# fmt: off
CASES = [
    # erf / erfc
    C("nn-erf", "erf", lambda m, x: m.erf(x), F(3, 4)),
    C("nn-erf-large", "erf", lambda m, x: m.erf(x), F(6, g="large"), fd=False),
    C("nn-erf-special", "erf", lambda m, x: m.erf(x), K(7, g="special"), grad=False),
    C("nn-erf-0d", "erf", lambda m, x: m.erf(x), F()),
    C("nn-erf-empty", "erf", lambda m, x: m.erf(x), F(0, 2)),
    C("nn-erfc", "erfc", lambda m, x: m.erfc(x), F(3, 4)),
    C("nn-erfc-large", "erfc", lambda m, x: m.erfc(x * 0.1), F(8, g="large"), fd=False),
    C("nn-erfc-special", "erfc", lambda m, x: m.erfc(x), K(7, g="special"), grad=False),
    C("nn-erf-int", "erf", lambda m, x: m.erf(x), I(4)),
    # activations
    C("nn-gelu", "gelu", lambda m, x: nf(m).gelu(x), F(3, 4)),
    C("nn-gelu-tanh", "gelu", lambda m, x: nf(m).gelu(x, approximate="tanh"), F(3, 4)),
    C("nn-gelu-large", "gelu", lambda m, x: nf(m).gelu(x), F(8, g="large"), fd=False),
    C("nn-gelu-tanh-large", "gelu", lambda m, x: nf(m).gelu(x, approximate="tanh"),
      F(8, g="large"), fd=False),
    C("nn-gelu-0d", "gelu", lambda m, x: nf(m).gelu(x), F()),
    C("nn-gelu-empty", "gelu", lambda m, x: nf(m).gelu(x), F(0, 3)),
    C("nn-elu", "elu", lambda m, x: nf(m).elu(x), F(3, 4, g="nonzero")),
    C("nn-elu-alpha", "elu", lambda m, x: nf(m).elu(x, alpha=0.5), F(3, 4, g="nonzero")),
    C("nn-elu-large", "elu", lambda m, x: nf(m).elu(x), F(8, g="large"), fd=False),
    C("nn-elu-inplace", ("elu_", "mul"), lambda m, x: nf(m).elu(x * 1, inplace=True),
      F(3, 4, g="nonzero")),
    C("nn-selu-inplace", ("elu_", "mul"), lambda m, x: nf(m).selu(x * 1, inplace=True),
      F(3, 4, g="nonzero")),
    C("nn-selu", "elu", lambda m, x: nf(m).selu(x), F(3, 4, g="nonzero")),
    C("nn-selu-torch", "elu", lambda m, x: m.selu(x), F(5, g="nonzero")),
    C("nn-elu-0d", "elu", lambda m, x: nf(m).elu(x), F(g="nonzero")),
    C("nn-elu-empty", "elu", lambda m, x: nf(m).elu(x), F(0)),
    C("nn-leaky-relu", "leaky_relu", lambda m, x: nf(m).leaky_relu(x), F(3, 4, g="nonzero")),
    C("nn-leaky-relu-slope", "leaky_relu", lambda m, x: nf(m).leaky_relu(x, 0.2),
      F(3, 4, g="nonzero")),
    C("nn-leaky-relu-zeros", "leaky_relu", lambda m, x: nf(m).leaky_relu(x, 0.3),
      F(6, g="ties"), fd=False),
    C("nn-leaky-relu-inplace", ("leaky_relu_", "mul"),
      lambda m, x: nf(m).leaky_relu(x * 1, 0.1, inplace=True), F(3, 4, g="nonzero")),
    C("nn-leaky-relu-empty", "leaky_relu", lambda m, x: nf(m).leaky_relu(x), F(0, 2)),
    C("nn-silu", "silu", lambda m, x: nf(m).silu(x), F(3, 4)),
    C("nn-silu-large", "silu", lambda m, x: nf(m).silu(x), F(8, g="large"), fd=False),
    C("nn-silu-0d", "silu", lambda m, x: nf(m).silu(x), F()),
    C("nn-silu-inplace", ("silu", "mul"), lambda m, x: nf(m).silu(x * 1, inplace=True), F(4)),
    C("nn-softplus", "softplus", lambda m, x: nf(m).softplus(x), F(3, 4)),
    C("nn-softplus-beta", "softplus", lambda m, x: nf(m).softplus(x, beta=2.0, threshold=3.0),
      F(3, 4)),
    C("nn-softplus-large", "softplus", lambda m, x: nf(m).softplus(x), F(8, g="large"),
      fd=False),
    C("nn-softplus-empty", "softplus", lambda m, x: nf(m).softplus(x), F(0)),
    C("nn-hardtanh", "hardtanh", lambda m, x: nf(m).hardtanh(x), F(3, 4, g="nonzero")),
    C("nn-hardtanh-range", "hardtanh", lambda m, x: nf(m).hardtanh(x, -0.5, 1.5),
      F(3, 4, g="nonzero")),
    C("nn-hardtanh-bounds", "hardtanh", lambda m, x: nf(m).hardtanh(x), F(6, g="ties"),
      fd=False),
    C("nn-relu6", ("hardtanh", "mul"), lambda m, x: nf(m).relu6(x * 4), F(3, 4, g="nonzero")),
    C("nn-hardtanh-inplace", ("hardtanh", "mul"), lambda m, x: nf(m).hardtanh_(x * 1), F(5)),
    C("nn-logsigmoid", "logsigmoid", lambda m, x: nf(m).logsigmoid(x), F(3, 4)),
    C("nn-logsigmoid-large", "logsigmoid", lambda m, x: nf(m).logsigmoid(x), F(8, g="large"),
      fd=False),
    C("nn-logsigmoid-0d", "logsigmoid", lambda m, x: nf(m).logsigmoid(x), F()),
    # batch norm
    C("nn-batch-norm-2d", "native_batch_norm",
      lambda m, x, w, b: nf(m).batch_norm(x, None, None, w, b, training=True), F(4, 3), F(3),
      F(3), tol=10),
    C("nn-batch-norm-3d", "native_batch_norm",
      lambda m, x, w, b: nf(m).batch_norm(x, None, None, w, b, True), F(3, 2, 4), F(2), F(2),
      tol=10),
    C("nn-batch-norm-4d", "native_batch_norm",
      lambda m, x, w, b: nf(m).batch_norm(x, None, None, w, b, True, eps=1e-3), F(2, 3, 2, 2),
      F(3), F(3), tol=10),
    C("nn-batch-norm-no-affine", "native_batch_norm",
      lambda m, x: nf(m).batch_norm(x, None, None, training=True), F(5, 2), tol=10),
    C("nn-batch-norm-stats", "native_batch_norm", bn_train_stats, F(4, 3, 2), K(3),
      K(3, g="pos"), F(3), F(3), tol=10),
    C("nn-batch-norm-eval", "native_batch_norm",
      lambda m, x, rm, rv, w, b: nf(m).batch_norm(x, rm, rv, w, b), F(4, 3), K(3),
      K(3, g="pos"), F(3), F(3)),
    C("nn-batch-norm-eval-4d", "native_batch_norm",
      lambda m, x, rm, rv: nf(m).batch_norm(x, rm, rv, training=False), F(2, 2, 3, 2), K(2),
      K(2, g="pos")),
    C("nn-batch-norm-torch", "native_batch_norm",
      lambda m, x, w: m.batch_norm(x, w, None, None, None, True, 0.1, 1e-5, False), F(3, 2),
      F(2), tol=10),
    # layer norm
    C("nn-layer-norm", "native_layer_norm",
      lambda m, x, w, b: nf(m).layer_norm(x, (4,), w, b), F(2, 3, 4), F(4), F(4), tol=10),
    C("nn-layer-norm-2dims", "native_layer_norm",
      lambda m, x, w, b: nf(m).layer_norm(x, (3, 4), w, b, eps=1e-3), F(2, 3, 4), F(3, 4),
      F(3, 4), tol=10),
    C("nn-layer-norm-no-affine", "native_layer_norm",
      lambda m, x: nf(m).layer_norm(x, [5]), F(3, 5), tol=10),
    C("nn-layer-norm-weight-only", "native_layer_norm",
      lambda m, x, w: m.layer_norm(x, (3,), w), F(3), F(3), tol=10),
    C("nn-layer-norm-empty", "native_layer_norm",
      lambda m, x, w, b: nf(m).layer_norm(x, (3,), w, b), F(0, 3), F(3), F(3)),
    # group norm
    C("nn-group-norm", "native_group_norm",
      lambda m, x, w, b: nf(m).group_norm(x, 2, w, b), F(2, 4, 3), F(4), F(4), tol=10),
    C("nn-group-norm-4d", "native_group_norm",
      lambda m, x, w, b: nf(m).group_norm(x, 3, w, b, eps=1e-3), F(2, 6, 2, 2), F(6), F(6),
      tol=10),
    C("nn-group-norm-instance", "native_group_norm",
      lambda m, x: nf(m).group_norm(x, 3), F(2, 3, 4), tol=10),
    C("nn-group-norm-one-group", "native_group_norm",
      lambda m, x, w: m.group_norm(x, 1, w), F(3, 2, 2), F(2), tol=10),
    C("nn-group-norm-2d", "native_group_norm",
      lambda m, x, w, b: nf(m).group_norm(x, 2, w, b), F(3, 4), F(4), F(4), tol=10),
    # embedding and dropout
    C("nn-embedding", "embedding", lambda m, w: nf(m).embedding(E(m), w), F(5, 3)),
    # padding_idx and scale_grad_by_freq change the gradient by design: no finite differences.
    C("nn-embedding-pad", "embedding", lambda m, w: nf(m).embedding(E(m), w, padding_idx=2),
      F(5, 3), fd=False, xfail=PAD),
    C("nn-embedding-pad-neg", "embedding",
      lambda m, w: nf(m).embedding(E(m), w, padding_idx=-1), F(5, 3), fd=False, xfail=PAD),
    C("nn-embedding-freq", "embedding",
      lambda m, w: nf(m).embedding(E(m), w, scale_grad_by_freq=True), F(5, 3), fd=False,
      xfail=FREQ | PAD),
    C("nn-embedding-torch", "embedding",
      lambda m, w: m.embedding(w, idx([3, 3, 0])(m), 0, True), F(4, 2), fd=False,
      xfail=FREQ | PAD),
    C("nn-embedding-0d", "embedding", lambda m, w: nf(m).embedding(idx(1)(m), w), F(3, 2)),
    # PyTorch's double backward cannot reshape an empty gradient.
    C("nn-embedding-empty", "embedding", lambda m, w: nf(m).embedding(idx([])(m), w), F(3, 2),
      gg=False),
    C("nn-embedding-max-norm", ("embedding", "mul"),
      lambda m, w: nf(m).embedding(E(m), w * 1, max_norm=1.0), F(5, 3), fd=False),
    C("nn-dropout-p1", ("dropout_mask", "mul"), lambda m, x: nf(m).dropout(x, 1.0), F(3, 4)),
    # regression losses
    *[C(f"nn-mse-{r}", "mse_loss", lambda m, x, y, r=r: nf(m).mse_loss(x, y, reduction=r),
        F(3, 4), F(3, 4)) for r in R],
    C("nn-mse-0d", "mse_loss", lambda m, x, y: nf(m).mse_loss(x, y), F(), F()),
    C("nn-mse-empty", "mse_loss", lambda m, x, y: nf(m).mse_loss(x, y, reduction="sum"),
      F(0, 2), F(0, 2)),
    C("nn-mse-weight", ("sub", "mul", "sum_all", "div"),
      lambda m, x, y, w: nf(m).mse_loss(x, y, weight=w), F(3, 4), F(3, 4), K(3, 4, g="pos")),
    *[C(f"nn-l1-{r}", ("sub", "abs"), lambda m, x, y, r=r: nf(m).l1_loss(x, y, reduction=r),
        F(3, 4), F(3, 4)) for r in R],
    C("nn-l1-weight", ("sub", "abs", "mul"),
      lambda m, x, y, w: nf(m).l1_loss(x, y, reduction="none", weight=w), F(3, 4), F(3, 4),
      K(3, 4, g="pos")),
    *[C(f"nn-smooth-l1-{r}", "smooth_l1_loss",
        lambda m, x, y, r=r: nf(m).smooth_l1_loss(x, y, reduction=r), F(3, 4), F(3, 4))
      for r in R],
    C("nn-smooth-l1-beta", "smooth_l1_loss",
      lambda m, x, y: nf(m).smooth_l1_loss(x, y, beta=0.5), F(3, 4), F(3, 4)),
    C("nn-smooth-l1-beta0", ("sub", "abs", "mean_all"),
      lambda m, x, y: nf(m).smooth_l1_loss(x, y, beta=0.0), F(3, 4), F(3, 4)),
    *[C(f"nn-huber-{r}", "huber_loss",
        lambda m, x, y, r=r: nf(m).huber_loss(x, y, reduction=r, delta=0.7), F(3, 4), F(3, 4))
      for r in R],
    C("nn-huber-weight", ("huber_loss", "mul", "mean_all"),
      lambda m, x, y, w: nf(m).huber_loss(x, y, weight=w), F(3, 4), F(3, 4), K(3, 4, g="pos")),
    # binary cross entropy
    *[C(f"nn-bce-{r}", ("binary_cross_entropy", "sigmoid"),
        lambda m, x, y, r=r: nf(m).binary_cross_entropy(x.sigmoid(), y.sigmoid(), reduction=r),
        F(3, 4), F(3, 4)) for r in R],
    C("nn-bce-weight", ("binary_cross_entropy", "sigmoid"),
      lambda m, x, y, w: nf(m).binary_cross_entropy(x.sigmoid(), y.sigmoid(), w), F(3, 4),
      F(3, 4), K(4, g="pos")),
    C("nn-bce-edges", "binary_cross_entropy",
      lambda m, y: nf(m).binary_cross_entropy(m.tensor([0.0, 1.0, 0.5], dtype=y.dtype),
                                              y.sigmoid()),
      K(3, g="unit"), grad=False),
    *[C(f"nn-bce-logits-{r}", "binary_cross_entropy_with_logits",
        lambda m, x, y, r=r: nf(m).binary_cross_entropy_with_logits(x, y.sigmoid(), reduction=r),
        F(3, 4), F(3, 4)) for r in R],
    C("nn-bce-logits-pos-weight", "binary_cross_entropy_with_logits",
      lambda m, x, y, p: nf(m).binary_cross_entropy_with_logits(x, y.sigmoid(), pos_weight=p),
      F(3, 4), F(3, 4), K(4, g="pos")),
    C("nn-bce-logits-weights", "binary_cross_entropy_with_logits",
      lambda m, x, y, w, p: nf(m).binary_cross_entropy_with_logits(
          x, y.sigmoid(), w, reduction="sum", pos_weight=p),
      F(2, 3), F(2, 3), K(2, 1, g="pos"), K(3, g="pos")),
    C("nn-bce-logits-large", "binary_cross_entropy_with_logits",
      lambda m, x, y: nf(m).binary_cross_entropy_with_logits(x, y.sigmoid(), reduction="none"),
      F(8, g="large"), F(8), fd=False),
    # KL divergence
    *[C(f"nn-kl-div-{r}", ("log_softmax", "softmax", "mul"),
        quiet(lambda m, x, y, r=r: nf(m).kl_div(x.log_softmax(1), y.softmax(1), reduction=r)),
        F(3, 4), F(3, 4)) for r in (*R, "batchmean")],
    C("nn-kl-div-log-target", ("log_softmax", "exp", "mul"),
      lambda m, x, y: nf(m).kl_div(x.log_softmax(1), y.log_softmax(1), reduction="batchmean",
                                   log_target=True), F(3, 4), F(3, 4)),
    C("nn-kl-div-log-target-none", ("log_softmax", "exp", "mul"),
      lambda m, x, y: nf(m).kl_div(x.log_softmax(1), y.log_softmax(1), reduction="none",
                                   log_target=True), F(3, 4), F(3, 4)),
    # negative log likelihood
    *[C(f"nn-nll-{r}", "nll_loss", lambda m, x, r=r: nf(m).nll_loss(x, T4(m), reduction=r),
        F(4, 3)) for r in R],
    *[C(f"nn-nll-weight-{r}", "nll_loss",
        lambda m, x, w, r=r: nf(m).nll_loss(x, T4(m), w, reduction=r), F(4, 3), K(3, g="pos"))
      for r in R],
    *[C(f"nn-nll-ignore-{r}", "nll_loss",
        lambda m, x, w, r=r: nf(m).nll_loss(x, T4_IGN1(m), w, ignore_index=1, reduction=r),
        F(4, 3), K(3, g="pos")) for r in R],
    C("nn-nll-all-ignored", "nll_loss",
      lambda m, x: nf(m).nll_loss(x, idx([-100, -100])(m)), F(2, 3), fd=False, gg=False,
      xfail={"jvp_reverse": "all targets ignored: the tangent is 0/0 = NaN, the gradient 0"}),
    C("nn-nll-1d", "nll_loss", lambda m, x: nf(m).nll_loss(x, idx(2)(m)), F(3)),
    C("nn-nll-1d-none", "nll_loss", lambda m, x: nf(m).nll_loss(x, idx(0)(m), reduction="none"),
      F(3)),
    *[C(f"nn-nll-3d-{r}", "nll_loss2d",
        lambda m, x, r=r: nf(m).nll_loss(x, T2x4(m), reduction=r), F(2, 3, 4)) for r in R],
    *[C(f"nn-nll-4d-{r}", "nll_loss2d",
        lambda m, x, w, r=r: nf(m).nll_loss(x, T2x2x2(m), w, reduction=r), F(2, 3, 2, 2),
        K(3, g="pos")) for r in R],
    C("nn-nll-5d", "nll_loss2d", lambda m, x: nf(m).nll_loss(x, T5D(m)), F(1, 3, 2, 2, 2)),
    C("nn-nll-5d-none", "nll_loss2d",
      lambda m, x: nf(m).nll_loss(x, T5D(m), reduction="none"), F(1, 3, 2, 2, 2)),
    C("nn-nll-empty", "nll_loss", lambda m, x: nf(m).nll_loss(x, idx([])(m), reduction="sum"),
      F(0, 3)),
    # cross entropy: class indices
    *[C(f"nn-ce-{r}", ("log_softmax", "nll_loss"),
        lambda m, x, r=r: nf(m).cross_entropy(x, T4(m), reduction=r), F(4, 3)) for r in R],
    C("nn-ce-large", ("log_softmax", "nll_loss"), lambda m, x: nf(m).cross_entropy(x, T4(m)),
      F(4, 3, g="large"), fd=False),
    C("nn-ce-weight", ("log_softmax", "nll_loss"),
      lambda m, x, w: nf(m).cross_entropy(x, T4(m), w), F(4, 3), K(3, g="pos")),
    C("nn-ce-ignore", ("log_softmax", "nll_loss"),
      lambda m, x, w: nf(m).cross_entropy(x, T4_IGN(m), w), F(4, 3), K(3, g="pos")),
    C("nn-ce-1d", ("log_softmax", "nll_loss"), lambda m, x: nf(m).cross_entropy(x, idx(1)(m)),
      F(3)),
    C("nn-ce-4d", ("log_softmax", "nll_loss2d"),
      lambda m, x: nf(m).cross_entropy(x, T2x2x2(m)), F(2, 3, 2, 2)),
    C("nn-ce-3d-none", ("log_softmax", "nll_loss2d"),
      lambda m, x: nf(m).cross_entropy(x, T2x4(m), reduction="none"), F(2, 3, 4)),
    # cross entropy: label smoothing (with weights and ignored targets)
    *[C(f"nn-ce-smooth-{r}", ("log_softmax", "nll_loss", "masked_fill"),
        lambda m, x, r=r: nf(m).cross_entropy(x, T4(m), reduction=r, label_smoothing=0.2),
        F(4, 3)) for r in R],
    *[C(f"nn-ce-smooth-weight-ignore-{r}", ("log_softmax", "nll_loss", "masked_fill"),
        lambda m, x, w, r=r: nf(m).cross_entropy(x, T4_IGN1(m), w, ignore_index=1,
                                                 reduction=r, label_smoothing=0.3),
        F(4, 3), K(3, g="pos")) for r in R],
    C("nn-ce-smooth-4d", ("log_softmax", "nll_loss2d"),
      lambda m, x, w: nf(m).cross_entropy(x, T2x2x2(m), w, label_smoothing=0.1),
      F(2, 3, 2, 2), K(3, g="pos")),
    C("nn-ce-smooth-1d", ("log_softmax", "nll_loss"),
      lambda m, x: nf(m).cross_entropy(x, idx(2)(m), label_smoothing=0.4), F(3)),
    # cross entropy: class probabilities
    *[C(f"nn-ce-probs-{r}", ("log_softmax", "softmax", "mul"),
        lambda m, x, y, r=r: nf(m).cross_entropy(x, y.softmax(1), reduction=r), F(4, 3),
        F(4, 3)) for r in R],
    C("nn-ce-probs-mean-div", ("log_softmax", "div_scalar"),
      lambda m, x, y: nf(m).cross_entropy(x, y.softmax(1)), F(4, 3), F(4, 3)),
    C("nn-ce-probs-weight-smooth", ("log_softmax", "div_scalar"),
      lambda m, x, y, w: nf(m).cross_entropy(x, y.softmax(1), w, label_smoothing=0.2),
      F(4, 3), F(4, 3), K(3, g="pos")),
    C("nn-ce-probs-4d", ("log_softmax", "div_scalar"),
      lambda m, x, y: nf(m).cross_entropy(x, y.softmax(1)), F(2, 3, 2, 1), F(2, 3, 2, 1)),
    C("nn-ce-probs-1d", ("log_softmax", "mul"),
      lambda m, x, y: nf(m).cross_entropy(x, y.softmax(0), reduction="sum"), F(3), F(3)),
]
# fmt: on

HELPERS: dict[str, tuple[str, ...]] = {
    "embedding_backward": ("nn-embedding", "nn-embedding-pad", "nn-embedding-0d"),
}
