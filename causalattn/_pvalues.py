"""How every text output writes a p-value: tables, reprs, the forest plot and the command line.

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
