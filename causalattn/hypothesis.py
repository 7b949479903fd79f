"""The result type of the tests without an estimate of their own: :class:`HypothesisTest`.

Pearson's chi-square test, the Cochran-Mantel-Haenszel test, the Breslow-Day
test and McNemar's test return a :class:`HypothesisTest`: a statistic, its
degrees of freedom, a p-value and the method, and nothing that looks like an
estimate. The effect size goes with its own interval in an
:class:`~causalattn.Estimate` (``risk_difference()``, ``odds_ratio()`` ...),
so an interval and a p-value on the same row always come from one procedure.
An :class:`~causalattn.EstimateTable` holds tests and estimates side by side.
Tests that come with an estimate of their own (Fisher's exact test with the
conditional odds ratio, the Fisher randomization test) return an
:class:`~causalattn.Estimate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from causalattn import _fields as fields
from causalattn._pvalues import pvalue_equation

__all__ = ["HypothesisTest"]


@dataclass(frozen=True, repr=False)
class HypothesisTest:
    """A test of a null hypothesis: statistic, degrees of freedom, p-value, method.

    Attributes
    ----------
    hypothesis : str
        The null hypothesis tested, e.g. ``"independence (p1 = p0)"``.
    statistic : float
        The test statistic (see ``method``).
    dof : float or None
        Degrees of freedom of its reference chi-square distribution; ``None``
        for an exact test.
    pvalue : float
        The p-value.
    method : str
        The test, e.g. ``"chi2-yates"``, ``"cmh-continuity"``, ``"mcnemar-exact"``.
    n : int
        Number of units (pairs for McNemar's test).
    details : Mapping
        Anything else worth keeping (smallest expected count, strata used ...). Read-only.

    Raises
    ------
    ValueError, TypeError
        At construction, for a NaN statistic, a p-value that is missing, NaN
        or outside [0, 1], degrees of freedom that are not positive, or ``n``
        that is not a non-negative whole number.

    Examples
    --------
    >>> from causalattn import Table2x2
    >>> test = Table2x2([[81, 6], [234, 36]]).chi2_test()
    >>> test
    HypothesisTest(independence (p1 = p0): statistic = 2.043, dof = 1, p = 0.153; method=chi2-yates, n=357)
    >>> test.to_dict()["pvalue"] == test.pvalue
    True

    Tests, alone or beside estimates, make an :class:`~causalattn.EstimateTable`
    (their estimate columns stay empty):

    >>> from causalattn import EstimateTable
    >>> table = EstimateTable([test, Table2x2([[81, 6], [234, 36]]).chi2_test(continuity=False)])
    >>> list(table.to_frame()["method"])
    ['chi2-yates', 'chi2']
    """

    hypothesis: str
    statistic: float
    dof: float | None
    pvalue: float
    method: str
    n: int
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fields.text("hypothesis", self.hypothesis)
        fields.text("method", self.method)
        statistic = fields.real("statistic", self.statistic)
        if math.isnan(statistic):
            raise ValueError("`statistic` is NaN: a test that cannot be computed must raise, not return NaN")
        dof = None if self.dof is None else fields.real("dof", self.dof)
        if dof is not None and not dof > 0:
            raise ValueError(f"`dof` must be positive (None for an exact test), got {dof}")
        pvalue = fields.pvalue(self.pvalue, "a test always has one")
        if pvalue is None:
            raise TypeError("`pvalue` must be a real number in [0, 1], got None")
        for name, value in (("statistic", statistic), ("dof", dof), ("pvalue", pvalue),
                            ("n", fields.count(self.n)), ("details", fields.details(self.details))):
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        dof = " (exact)" if self.dof is None else f", dof = {self.dof:g}"
        return (f"HypothesisTest({self.hypothesis}: statistic = {self.statistic:.4g}{dof}, "
                f"{pvalue_equation(self.pvalue)}; method={self.method}, n={self.n})")

    def to_dict(self) -> dict[str, Any]:
        """Flat dictionary: the fields and the scalar details."""
        out: dict[str, Any] = {"hypothesis": self.hypothesis, "statistic": self.statistic, "dof": self.dof,
                               "pvalue": self.pvalue, "method": self.method, "n": self.n}
        for key, value in self.details.items():
            if key not in out and isinstance(value, (str, bool, int, float, np.integer, np.floating)):
                out[key] = value.item() if isinstance(value, np.generic) else value
        return out
