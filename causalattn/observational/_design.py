r"""Checks of the covariate design shared by the observational estimators: constant, collinear, separating columns.

Each check names the covariates at fault, so that an error points at the
cause (a covariate that only the treated have) rather than at a symptom (a
score of 1, a singular matrix, too few distinct matches).

* **Constant** columns carry no information (and duplicate the intercept).
* **Collinear** columns: the design :math:`(1, \tilde X)` with the covariates
  standardized has a condition number above :data:`CONDITION_LIMIT`; the
  covariates with a weight in its last right singular vector are the ones
  that are (nearly) linear combinations of each other.
* **Separation** (Albert and Anderson 1984): a direction :math:`\beta` with
  :math:`s_i\,\tilde x_i^\top\beta \ge 0` for every unit, :math:`s_i = +1` for
  the treated and :math:`-1` for the controls, strictly for some. The units with a
  strict inequality lie in a half-space that holds no unit of the other arm:
  they have no overlap, the logistic score has no maximum-likelihood
  estimate (their scores tend to 0 or 1), and matching them extrapolates. It
  is found exactly by the linear program (Konis 2007)
  :math:`\max_\beta \sum_i w_i s_i \tilde x_i^\top\beta` subject to
  :math:`s_i\tilde x_i^\top\beta \ge 0` and :math:`|\beta_j| \le 1` (scipy's
  HiGHS), whose optimum is positive exactly when some unit with
  :math:`w_i = 1` is separated.

References
----------
Albert, A. and Anderson, J. A. (1984). On the existence of maximum likelihood
estimates in logistic regression models. *Biometrika* 71, 1-10.

Konis, K. (2007). *Linear programming algorithms for detecting separated data
in binary logistic regression models*. DPhil thesis, University of Oxford.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

__all__ = ["CONDITION_LIMIT", "Separation", "check_collinear", "check_constant", "near_dependency",
           "separation"]

#: Largest condition number of the standardized design (with the intercept) accepted: beyond it a logistic
#: fit's Hessian (condition number squared) is singular in double precision.
CONDITION_LIMIT = 1e8
# A margin (standardized units, |beta| <= 1) above this is strict: the LP solver's tolerance is 1e-7.
_MARGIN = 1e-6


def check_constant(x: np.ndarray, names: list[str], *, arg: str = "covariates", where: str = "") -> None:
    """Refuse constant columns of ``x``, by name (``where`` says among which units, e.g. ``" in the treated arm"``)."""
    constant = [name for name, column in zip(names, x.T, strict=True) if np.ptp(column) == 0]
    if constant:
        raise ValueError(f"`{arg}` {constant} are constant{where}: they carry no information (and duplicate the "
                         "intercept); drop them")


def _standardized(x: np.ndarray) -> np.ndarray:
    """The design ``(1, x)`` with each column of ``x`` centred and scaled to unit standard deviation."""
    return np.column_stack([np.ones(len(x)), (x - x.mean(axis=0)) / x.std(axis=0)])


def near_dependency(x: np.ndarray, names: list[str]) -> tuple[float, list[str]]:
    """The condition number of the standardized design ``(1, x)`` (non-constant columns) and the covariates of its
    most nearly dependent direction (the last right singular vector)."""
    design = _standardized(x)
    _, singular, vt = np.linalg.svd(design, full_matrices=False)
    loading = np.abs(vt[-1, 1:])
    involved = [name for name, v in zip(names, loading, strict=True) if v > 0.01 * loading.max()]
    return (singular[0] / singular[-1] if singular[-1] > 0 else np.inf), involved


def check_collinear(x: np.ndarray, names: list[str], *, arg: str = "covariates", where: str = "") -> None:
    """Refuse constant columns, and columns that are (nearly) linear combinations of others, naming them."""
    check_constant(x, names, arg=arg, where=where)
    if x.shape[1] == 0:
        return
    if len(x) <= x.shape[1]:
        raise ValueError(f"`{arg}`: {len(x)} units{where} cannot determine {x.shape[1] + 1} coefficients "
                         "(the intercept and one per covariate); use fewer covariates")
    condition, involved = near_dependency(x, names)
    if condition > CONDITION_LIMIT:
        raise ValueError(f"`{arg}` {involved} are collinear{where}: one is (almost) a linear combination of the "
                         f"others (condition number {condition:.3g} of the standardized design, limit "
                         f"{CONDITION_LIMIT:.0e}); drop one of them")


@dataclass(frozen=True)
class Separation:
    """Covariates that separate the arms, and how many units of each arm they isolate."""

    covariates: list[str]
    treated: int
    control: int

    def describe(self) -> str:
        """``"`covariates` ['x'] separate 49 treated unit(s) from every control"``, for messages."""
        parts = [f"{count} {arm} unit(s) from every {other}" for count, arm, other in
                 ((self.treated, "treated", "control"), (self.control, "control", "treated unit")) if count]
        return (f"`covariates` {self.covariates} separate {' and '.join(parts)} (a linear combination of them is "
                "at least as large for every treated unit as for every control, and strictly larger for those "
                "units), so those units have no overlap")


def separation(x: np.ndarray, z: np.ndarray, names: list[str], *, treated_only: bool = False) -> Separation | None:
    """The separation of the arms by the covariates (module docstring), or ``None`` if there is none.

    With ``treated_only`` only treated units isolated from every control count
    (what matters for the ATT).
    """
    spread = x.std(axis=0)
    columns = spread > 0
    design = _standardized(x[:, columns])
    signed = np.where(z == 1, 1.0, -1.0)[:, None] * design
    weight = (z == 1).astype(float) if treated_only else np.ones(len(z))
    result = linprog(-(weight @ signed), A_ub=-signed, b_ub=np.zeros(len(z)), bounds=(-1, 1), method="highs")
    if result.status != 0 or -result.fun <= _MARGIN:
        return None
    margin = signed @ result.x
    isolated = margin > _MARGIN
    used = np.flatnonzero(columns)[np.abs(result.x[1:]) > _MARGIN]
    return Separation([names[j] for j in used], int((isolated & (z == 1)).sum()), int((isolated & (z == 0)).sum()))
