"""Linear algebra: matmul (the primitive), Linear (x @ w.T + b as one op), tensordot and einsum."""

from __future__ import annotations

import string
from typing import Any

import numpy as np

from ..kernels import affine, is_transposed_matrix
from ..tensor import Tensor
from ._util import as_tensor, broadcast_shapes
from .elementwise import _binary
from .function import Function
from .movement import Reshape, Transpose, sum_to, swapaxes, unsqueeze


class MatMul(Function):
    """Matrix product with NumPy's rules: batch axes broadcast, and a 1-D operand is a row on the left,
    a column on the right, whose axis is dropped from the result."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul: operands need at least one axis, got shapes {a.shape} and {b.shape}")
        inner = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if a.shape[-1] != inner:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align ({a.shape[-1]} != {inner})")
        if a.ndim > 2 or b.ndim > 2:
            broadcast_shapes(f"matmul: shapes {a.shape} and {b.shape}, batch axes", a.shape[:-2], b.shape[:-2])
        return _binary("matmul", np.matmul, a, b)  # an integer operand takes the float one's dtype, as in a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 1 or b.ndim == 1:  # as the row (1, m) and the column (m, 1) they stand for
            return _as_matrices(a, b, g, need_a, need_b)
        # C = A B: dA = dC B^T, dB = A^T dC; an operand that is w.T gets (B dC^T)^T or (dC^T A)^T, C-ordered as w
        ga = gb = None
        if need_a:
            ga = _t(MatMul.apply(b, _t(g))) if is_transposed_matrix(a.data) else MatMul.apply(g, _t(b))
        if need_b:
            gb = _t(MatMul.apply(_t(g), a)) if is_transposed_matrix(b.data) else MatMul.apply(_t(a), g)
        return ga, gb

def _as_matrices(a: Tensor, b: Tensor, g: Tensor, need_a: bool, need_b: bool) -> tuple:
    """MatMul's gradients where an operand is 1-D: the 2-D formulas on the row and column it stands for,
    summed over batch axes and shaped back (dA = g b^T, db = A^T g for a matrix times a vector)."""
    a2 = Reshape.apply(a, (1, -1)) if a.ndim == 1 else a
    b2 = Reshape.apply(b, (-1, 1)) if b.ndim == 1 else b
    g2 = unsqueeze(g, -1) if b.ndim == 1 else g
    g2 = unsqueeze(g2, -2) if a.ndim == 1 else g2
    ga = MatMul.apply(g2, _t(b2)) if need_a else None
    gb = MatMul.apply(_t(a2), g2) if need_b else None
    if ga is not None and a.ndim == 1:
        ga = Reshape.apply(sum_to(ga, a2.shape), a.shape)
    if gb is not None and b.ndim == 1:
        gb = Reshape.apply(sum_to(gb, b2.shape), b.shape)
    return ga, gb

class Linear(Function):
    """x @ w.T + b as one node, a linear layer's (PyTorch's addmm): x (N, in), w (out, in), b (out,) or None."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        x_ = x.data if x.data.dtype.kind in "fc" else x.data.astype(w.dtype)  # integer samples take w's dtype
        return affine(x_, w.data, None if b is None else b.data)

    @staticmethod
    def backward(ctx, g):
        (x, w), (need_x, need_w, _) = ctx.saved_tensors, ctx.needs_input_grad
        # y = x W^T + b:  dx = dy W,  dW = dy^T x,  db = dy (the engine sums it over the batch)
        return MatMul.apply(g, w) if need_x else None, MatMul.apply(_t(g), x) if need_w else None, g

def _t(x: Tensor) -> Tensor:
    return swapaxes(x, -1, -2)

def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands become a row or a column, then are dropped."""
    return MatMul.apply(as_tensor(a), as_tensor(b))

def tensordot(a: Any, b: Any, axes: Any = 2) -> Tensor:
    """Sum products over ``axes`` of a and b (NumPy's tensordot), as transpose, reshape, matmul."""
    a, b = as_tensor(a), as_tensor(b)
    if isinstance(axes, int):
        axes_a, axes_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        axes_a, axes_b = ([x] if isinstance(x, int) else list(x) for x in axes)
    axes_a = [x % a.ndim for x in axes_a] if a.ndim else axes_a
    axes_b = [x % b.ndim for x in axes_b] if b.ndim else axes_b
    if [a.shape[i] for i in axes_a] != [b.shape[i] for i in axes_b]:
        raise ValueError(f"tensordot: shapes {a.shape} and {b.shape} differ on the summed axes {axes_a}, {axes_b}")
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [i for i in range(b.ndim) if i not in axes_b]
    k = int(np.prod([a.shape[i] for i in axes_a], dtype=np.int64))
    a2 = Reshape.apply(Transpose.apply(a, tuple(free_a + axes_a)), (-1, k))
    b2 = Reshape.apply(Transpose.apply(b, tuple(axes_b + free_b)), (k, -1))
    out_shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b)
    return Reshape.apply(MatMul.apply(a2, b2), out_shape)

def _parse(subscripts: str, ndims: list[int]) -> tuple[list[str], str]:
    """Each operand's letters and the output's, every '...' spelled out in spare letters."""
    ins, arrow, out = subscripts.replace(" ", "").partition("->")
    inputs = ins.split(",")
    if len(inputs) != len(ndims):
        raise ValueError(f"einsum: {subscripts!r} names {len(inputs)} operands, got {len(ndims)}")
    # '...' stands for an operand's axes beyond its letters, aligned on the right (NumPy's broadcasting)
    extra = [n - len(sub) + 3 if "..." in sub else 0 for sub, n in zip(inputs, ndims)]
    lead = "".join([c for c in string.ascii_letters if c not in subscripts][: max(extra)])
    inputs = [sub.replace("...", lead[len(lead) - e :]) for sub, e in zip(inputs, extra)]
    if not arrow:  # implicit form: the '...' axes, then the letters seen once, in alphabetical order
        letters = "".join(inputs)
        out = lead + "".join(sorted(c for c in set(letters) - set(lead) if letters.count(c) == 1))
    return inputs, out.replace("...", lead)

class Einsum(Function):
    inputs = slice(1, None)

    @staticmethod
    def forward(ctx, subscripts, *operands):
        inputs, out = _parse(subscripts, [t.ndim for t in operands])
        sizes: dict[str, int] = {}
        for sub, t in zip(inputs, operands):
            if len(sub) != t.ndim:
                raise ValueError(f"einsum: subscripts {sub!r} do not fit an operand of shape {t.shape}")
            for c, n in zip(sub, t.shape):
                seen = sizes.setdefault(c, n)
                if seen != n and (1 not in (seen, n) or sub.count(c) > 1):  # size 1 broadcasts, as in NumPy
                    shapes = ", ".join(str(o.shape) for o in operands)
                    raise ValueError(f"einsum: subscript {c!r} has sizes {seen} and {n} in {subscripts!r}: {shapes}")
                sizes[c] = max(seen, n)
        ctx.inputs, ctx.out = inputs, out
        ctx.save_for_backward(*operands)
        try:
            return np.einsum(f"{','.join(inputs)}->{out}", *(t.data for t in operands))
        except ValueError as error:
            raise ValueError(f"einsum: {subscripts!r}: {error}") from None

    @staticmethod
    def backward(ctx, g):
        operands = ctx.saved_tensors
        grads: list = [None]
        for i, (sub, t) in enumerate(zip(ctx.inputs, operands)):
            if not ctx.needs_input_grad[i + 1]:
                grads.append(None)
                continue
            others = [s for j, s in enumerate(ctx.inputs) if j != i] + [ctx.out]
            known, unique = set("".join(others)), "".join(dict.fromkeys(sub))
            shape = tuple(t.shape[sub.index(c)] for c in unique)
            # letters only this operand has were summed away: broadcast the gradient over them;
            # a letter of size 1 here but larger elsewhere was broadcast in forward: sum over it
            reduced = "".join(c for c in unique if c in known)
            gi = Einsum.apply(f"{','.join(others)}->{reduced}", *[o for j, o in enumerate(operands) if j != i], g)
            layout = tuple(gi.shape[reduced.index(c)] if c in known else 1 for c in unique)
            gi = sum_to(Reshape.apply(gi, layout), tuple(n if n == 1 else m for n, m in zip(shape, layout)))
            gi = gi if gi.shape == shape else gi.broadcast_to(shape)
            if unique != sub:  # a repeated letter reads a diagonal: its gradient goes back onto it, times I
                spare = iter(c for c in string.ascii_letters if c not in sub)
                renamed = "".join(c if c not in sub[:k] else next(spare) for k, c in enumerate(sub))
                pairs = [(c + r, t.shape[k]) for k, (c, r) in enumerate(zip(sub, renamed)) if c != r]
                eyes = [Tensor(np.eye(n, dtype=g.dtype)) for _, n in pairs]
                gi = Einsum.apply(",".join([unique] + [p for p, _ in pairs]) + "->" + renamed, gi, *eyes)
            grads.append(gi)
        return tuple(grads)

def einsum(subscripts: str, *operands: Any) -> Tensor:
    """Einstein summation over Tensors, e.g. ``einsum("ij,jk->ik", a, b)``."""
    return Einsum.apply(subscripts, *[as_tensor(t) for t in operands])
