"""The result type of every effect decomposition: total, direct and indirect effects, one Estimate per row.

:class:`Decomposition` is an :class:`~causalattn.EstimateTable` whose rows say
which part of an effect they are, in ``details["component"]`` (one of
:data:`COMPONENTS`), and for which treatment, in ``details["treatment"]``. One
table serves a classic mediation analysis (:func:`~causalattn.mediate`: one
treatment, rows ``"total effect"``, ``"NDE(0)"``, ``"NIE(1)"`` ...) and the
decomposition of the effect of ablating attention heads (one group of rows per
head: total, direct, indirect, self-repair), so that both print, export and
plot (:func:`~causalattn.mediation.plot_decomposition`) the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from causalattn.estimate import Estimate, EstimateTable
from causalattn.hypothesis import HypothesisTest
from causalattn.mediation.plots import plot_decomposition

__all__ = ["COMPONENTS", "Decomposition"]

#: The parts of an effect a row can be (``details["component"]``), in the order of the bar chart's legend.
COMPONENTS = ("total", "direct", "indirect", "controlled direct", "self-repair", "path", "proportion mediated")


class Decomposition(EstimateTable):
    """Rows of an effect decomposition; ``table["NIE(1)"]`` finds a row by its estimand.

    Parameters
    ----------
    estimates : iterable of Estimate
        The rows; each should carry ``details["component"]`` (one of
        :data:`COMPONENTS`) and ``details["treatment"]`` (the group it belongs
        to in the bar chart).
    title : str
    fits : mapping, optional
        Fitted models or anything else behind the rows (e.g. statsmodels'
        results of the mediator and outcome models), read-only.

    Examples
    --------
    >>> from causalattn.estimate import normal_estimate
    >>> from causalattn.mediation import Decomposition
    >>> rows = [normal_estimate(name, value, 0.1, confidence_level=0.95, method="delta", n=50,
    ...                         details={"component": part, "treatment": "ablate:L0H0:zero"})
    ...         for name, value, part in [("total", -0.5, "total"), ("direct", -0.1, "direct"),
    ...                                   ("indirect", -0.4, "indirect")]]
    >>> table = Decomposition(rows, "one head")
    >>> table["indirect"].estimate
    -0.4
    >>> table.components()
    ['total', 'direct', 'indirect']
    """

    def __init__(self, estimates: Iterable[Estimate | HypothesisTest], title: str = "", *,
                 fits: Mapping[str, Any] | None = None) -> None:
        super().__init__(estimates, title)
        if fits is not None and not isinstance(fits, Mapping):
            raise TypeError(f"`fits` must be a mapping, got {type(fits).__name__}")
        for i, row in enumerate(self):
            if not isinstance(row, Estimate):
                raise TypeError(f"`estimates`: row {i} is a {type(row).__name__}; a decomposition holds estimates")
            component = row.details.get("component")
            if component is not None and component not in COMPONENTS:
                raise ValueError(f"`estimates`: row {i} ({row.estimand!r}) has component {component!r}; "
                                 f"use one of {list(COMPONENTS)}")
        self.fits = MappingProxyType(dict(fits or {}))

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            matches = [row for row in self if row.estimand == key]
            if len(matches) != 1:
                found = "no row" if not matches else f"{len(matches)} rows"
                raise KeyError(f"{found} with estimand {key!r}; rows: {[row.estimand for row in self]}")
            return matches[0]
        return super().__getitem__(key)

    def __repr__(self) -> str:
        return f"Decomposition({len(self)} estimates{': ' + self.title if self.title else ''})"

    def components(self) -> list[str]:
        """The components of the rows, each once, in row order."""
        return list(dict.fromkeys(row.details.get("component", "") for row in self))

    def plot(self, **kwargs: Any):
        """The bar chart of :func:`~causalattn.mediation.plot_decomposition` (keywords passed on)."""
        return plot_decomposition(self, **kwargs)
