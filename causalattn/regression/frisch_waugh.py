"""The Frisch-Waugh-Lovell theorem, demonstrated: partialling out covariates leaves the coefficient unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from statsmodels.regression.linear_model import OLS

from causalattn import _scaled_fit
from causalattn._validation import check_choice
from causalattn.estimate import Estimate
from causalattn.regression._fit import coefficient, treatment_coefficient
from causalattn.regression._inputs import COV_TYPES, design_matrix, regression_iv

__all__ = ["FWLResult", "fwl"]


@dataclass(frozen=True, repr=False)
class FWLResult:
    """The two equal coefficients of the Frisch-Waugh-Lovell theorem.

    Attributes
    ----------
    full : Estimate
        Coefficient of the treatment in the regression of the outcome on
        ``(1, treatment, covariates)``.
    partial : Estimate
        Slope of the outcome residuals on the treatment residuals, both
        residualized on ``(1, covariates)``.
    """

    full: Estimate
    partial: Estimate

    @property
    def difference(self) -> float:
        """``partial.estimate - full.estimate`` (zero up to rounding)."""
        return self.partial.estimate - self.full.estimate

    def __repr__(self) -> str:
        return (
            f"FWLResult(full = {self.full.estimate:.6g} (SE {self.full.standard_error:.4g}), "
            f"partial = {self.partial.estimate:.6g} (SE {self.partial.standard_error:.4g}), "
            f"difference = {self.difference:.2g}; {self.full.details['cov_type']})"
        )


def fwl(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    covariates: Any = None,
    *,
    cov_type: str = "HC0",
    confidence_level: float = 0.95,
) -> FWLResult:
    r"""Demonstrate the Frisch-Waugh-Lovell theorem: partialling out covariates leaves the coefficient unchanged.

    Let :math:`\tilde Y` and :math:`\tilde Z` be the residuals of the OLS fits
    of :math:`Y` and :math:`Z` on :math:`(1, X)`. The coefficient of
    :math:`Z` in the regression of :math:`Y` on :math:`(1, Z, X)` equals
    :math:`\sum_i \tilde Z_i\tilde Y_i / \sum_i \tilde Z_i^2`, the slope of
    :math:`\tilde Y` on :math:`\tilde Z`. The residuals of the two regressions
    coincide, so with ``cov_type="HC0"`` the standard errors agree too; other
    covariances differ by their degrees-of-freedom or leverage corrections.
    That exact equality is what this function demonstrates, so its default
    is ``"HC0"``, not the ``"HC2"`` of :func:`ols`, :func:`ancova` and :func:`lin`.

    As in :func:`ols`, an outcome fitted exactly (residuals below
    ``RELATIVE_TOLERANCE`` times the largest ``|outcome|``, e.g. a constant
    outcome) gives both coefficients standard error 0, a point interval and no
    p-value; coefficients of rounding size are reported as exactly 0. Both
    regressions have the same residuals, so both rows are exact or neither is.

    Parameters
    ----------
    data, outcome, treatment, covariates
        As in :func:`ols`; ``covariates=None`` partials out the intercept only
        (centring).
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3"}
        Covariance used for both standard errors.
    confidence_level : float
        Coverage of the intervals.

    Returns
    -------
    FWLResult
        ``full`` and ``partial`` Estimates; ``difference`` is their gap.

    References
    ----------
    Frisch, R. and Waugh, F. V. (1933). Partial time regressions as compared
    with individual trends. *Econometrica* 1, 387-401.

    Lovell, M. C. (1963). Seasonal adjustment of economic time series and
    multiple regression analysis. *JASA* 58, 993-1010.

    Ding, P. (2024). *A First Course in Causal Inference*, appendix on linear
    regression (the FWL theorem). CRC Press.

    Examples
    --------
    >>> import numpy as np, causalattn
    >>> rng = np.random.default_rng(1)
    >>> x = rng.normal(size=100); z = x + rng.normal(size=100); y = z - x + rng.normal(size=100)
    >>> res = causalattn.fwl(outcome=y, treatment=z, covariates=x)
    >>> abs(res.difference) < 1e-10
    True
    """
    check_choice("cov_type", cov_type, COV_TYPES[:-1])
    inputs = regression_iv(data, outcome, treatment, covariates, cov_type, None, confidence_level,
                           binary_treatment=False)
    frame, y, z = inputs.frame, inputs.outcome, inputs.treatment
    full = treatment_coefficient(inputs, estimand=f"OLS coefficient of {z}", method="ols")
    controls = design_matrix(frame, inputs.covariates)
    residuals = pd.DataFrame({
        y: _scaled_fit.least_squares(OLS(frame[y], controls)).resid,
        z: _scaled_fit.least_squares(OLS(frame[z], controls)).resid,
    })
    partial = coefficient(OLS(residuals[y], residuals[[z]]), z, inputs, estimand=f"residual slope of {z}",
                          method="fwl-partial", details={"covariates": full.details["covariates"]},
                          outcome_scale=float(frame[y].abs().max()))
    return FWLResult(full=full, partial=partial)
