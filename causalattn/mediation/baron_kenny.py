r"""The Baron-Kenny (1986) regressions of the linear mediation model, and Sobel's test of :math:`ab`.

Three OLS fits with the same covariates :math:`X`:

.. math::
    M = \alpha_0 + aZ + \alpha_X^\top X + \varepsilon_M, \qquad
    Y = \gamma_0 + cZ + \gamma_X^\top X + \varepsilon, \qquad
    Y = \beta_0 + c'Z + bM + \beta_X^\top X + \varepsilon_Y.

By the algebra of least squares :math:`c = c' + ab` exactly, so the product
:math:`ab` (the natural indirect effect of the linear model without
interaction) equals the difference :math:`c - c'`. Sobel's (1982) delta-method
standard error :math:`\sqrt{a^2 se_b^2 + b^2 se_a^2}` serves both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from causalattn._student import t_estimate
from causalattn._validation import check_confidence_level
from causalattn.estimate import EstimateTable, normal_estimate
from causalattn.mediation._units import arm_asymptotics, units_iv
from causalattn.mediation.models import fit_models, total_fit

__all__ = ["baron_kenny"]


def baron_kenny(data: pd.DataFrame, outcome: str, treatment: str, mediator: str,
                covariates: str | Sequence[str] | None = None, *, confidence_level: float = 0.95) -> EstimateTable:
    r"""The coefficients :math:`a, b, c, c'` of the Baron-Kenny regressions, :math:`ab` and :math:`c - c'`.

    See the module docstring for the three regressions. The coefficients get
    the classical OLS standard errors of R's ``lm`` with t intervals (residual
    degrees of freedom of their regression); :math:`ab` and :math:`c - c'`
    get Sobel's standard error, the normal interval and the z test.

    Parameters
    ----------
    data : pandas.DataFrame
    outcome, treatment, mediator : str
        Column names; ``treatment`` 0/1.
    covariates : str or list of str, optional
        In all three regressions.
    confidence_level : float

    Returns
    -------
    EstimateTable
        Rows ``"a: treatment -> mediator"``, ``"b: mediator -> outcome"``,
        ``"c: total effect"``, ``"c': direct effect"`` (``method``
        ``"ols-classical"``), ``"ab"`` and ``"c - c'"`` (``"sobel"``).

    References
    ----------
    Baron, R. M. and Kenny, D. A. (1986). The moderator-mediator variable distinction in social
    psychological research. *Journal of Personality and Social Psychology* 51, 1173-1182.

    Sobel, M. E. (1982). Asymptotic confidence intervals for indirect effects in structural equation
    models. *Sociological Methodology* 13, 290-312.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 27. CRC Press.

    Examples
    --------
    >>> from causalattn import baron_kenny, datasets
    >>> table = baron_kenny(datasets.load("framing"), "immigr", "treat", "emo", ["age", "income"])
    >>> ab, difference = table[4], table[5]
    >>> round(ab.estimate, 6) == round(difference.estimate, 6)
    True
    """
    level = check_confidence_level(confidence_level)
    units = units_iv(data, outcome, treatment, mediator, covariates, binary_outcome=False)
    fit = fit_models(units, "identity", False)
    note = arm_asymptotics(units, "baron_kenny (Sobel's normal interval)")
    total = total_fit(units)
    coefficients = [("a: treatment -> mediator", fit.mediator, 1), ("b: mediator -> outcome", fit.outcome, 2),
                    ("c: total effect", total, 1), ("c': direct effect", fit.outcome, 1)]
    common: dict[str, Any] = {"treatment": units.treatment, "mediator": units.mediator, "outcome": units.outcome}
    rows = [t_estimate(name, float(result.params[j]), float(result.bse[j]), float(result.df_resid),
                       confidence_level=level, method="ols-classical", n=units.n, details=common)
            for name, result, j in coefficients]
    (a, se_a), (b, se_b) = ((row.estimate, row.standard_error) for row in rows[:2])
    sobel = math.sqrt(a * a * se_b * se_b + b * b * se_a * se_a)
    for name, value in (("ab", a * b), ("c - c'", rows[2].estimate - rows[3].estimate)):
        rows.append(normal_estimate(name, value, sobel, confidence_level=level, method="sobel", n=units.n,
                                    details={**common, "distribution": "normal", "asymptotics": note}))
    return EstimateTable(rows, f"Baron-Kenny: {units.treatment} -> {units.mediator} -> {units.outcome}")
