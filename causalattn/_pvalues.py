"""P-values: the one rule by which a test rejects, and how every text output writes a p-value.

**Rejection.** A test at level :math:`\alpha = 1 - \text{confidence\\_level}`
rejects the null when :math:`p \\le \alpha` (:func:`rejects`), and the
confidence interval beside it holds the values it does not reject,
:math:`\\{\tau: p(\tau) > \alpha\\}`. At the exact boundary :math:`p = \alpha`
(e.g. the sign-flip test of 5 pairs, whose smallest p-value is 2/32 = 0.0625,
at the 93.75% level) the test rejects and the interval excludes the null.
Because ``1 - 0.8`` is 0.19999999999999996 in floating point, :math:`\alpha` is
taken up to :math:`10^{-12}`: a p-value of 4/20 rejects at the 80% level. The
ends of a t or normal interval are the values where :math:`p = \alpha` exactly.

**Text.**
A p-value computed as exactly 0 has underflowed: a tail probability such as
``stats.t.sf(400, 7)`` is positive but below the smallest double (about
1e-308), so it comes back as 0.0. Writing it as ``0`` claims a certainty no
test gives; the text outputs write ``<1e-300`` instead. Stored numbers
(``to_frame``, CSV files) keep the float.

Examples
--------
>>> from scipy import stats
>>> format_pvalue(0.012345), format_pvalue(2 * stats.norm.sf(5)), format_pvalue(2 * stats.norm.sf(40))
('0.0123', '5.73e-07', '<1e-300')
>>> pvalue_equation(0.012345), pvalue_equation(0.0, name="adj", digits=2, spaced=False)
('p = 0.0123', 'adj<1e-300')
"""

from __future__ import annotations

# Written for a p-value that underflowed to 0: every positive double above the underflow is at least 1e-308.
_FLOOR = "1e-300"


#: A p-value this close above alpha = 1 - level still rejects: alpha itself is rounded (1 - 0.8 < 0.2).
ALPHA_ROUNDING = 1e-12


def rejects(pvalue: float | None, confidence_level: float) -> bool:
    """Whether a test rejects at level ``1 - confidence_level``: ``pvalue <= 1 - confidence_level`` (up to 1e-12).

    Examples
    --------
    >>> rejects(0.0625, 0.9375), rejects(4 / 20, 0.8), rejects(0.2001, 0.8), rejects(None, 0.95)
    (True, True, False, False)
    """
    return pvalue is not None and pvalue <= 1 - confidence_level + ALPHA_ROUNDING


def _digits(p: float, digits: int) -> str:
    """``p`` with ``digits`` significant digits, in scientific notation below 1e-4."""
    return f"{p:.{digits}g}" if p >= 1e-4 else f"{p:.{digits - 1}e}"


def format_pvalue(p: float | None, *, digits: int = 3) -> str:
    """A p-value as a table cell: ``0.0123``, ``1.23e-05``, ``<1e-300`` when it underflowed to 0, ``-`` for None."""
    if p is None:
        return "-"
    return f"<{_FLOOR}" if p == 0 else _digits(p, digits)


def pvalue_equation(p: float | None, *, name: str = "p", digits: int = 3, spaced: bool = True) -> str:
    """``p = 0.0123``, ``p < 1e-300`` when ``p`` underflowed to 0, ``p = -`` for None; ``p=0.0123`` unless
    ``spaced``."""
    relation, value = ("<", _FLOOR) if p == 0 else ("=", format_pvalue(p, digits=digits))
    gap = " " if spaced else ""
    return f"{name}{gap}{relation}{gap}{value}"
