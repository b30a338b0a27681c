"""Gradient testing: numerical differentiation, gradcheck and gradgradcheck, and the op database.

The hypothesis strategies live in `autograd.testing.strategies` (imported on its own, so that
this package works without hypothesis).
"""

from .gradcheck import GradcheckError, gradcheck, gradgradcheck, numerical_grad
from .opdb import OPS, OpInfo, run_gradchecks

__all__ = ["OPS", "GradcheckError", "OpInfo", "gradcheck", "gradgradcheck", "numerical_grad", "run_gradchecks"]
