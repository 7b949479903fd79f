r"""Instrumental variables: the Wald / CACE estimator and two-stage least squares.

With a binary instrument :math:`Z` (encouragement), a binary treatment
:math:`D` and outcome :math:`Y`, under randomization of :math:`Z`, the
exclusion restriction and monotonicity (no defiers), the Wald ratio

.. math::

    \hat\tau_c = \frac{\bar Y_{Z=1} - \bar Y_{Z=0}}{\bar D_{Z=1} - \bar D_{Z=0}}
    = \frac{\widehat{ITT}_Y}{\widehat{ITT}_D}

estimates the complier average causal effect (CACE, Angrist, Imbens and Rubin
1996). Two-stage least squares generalizes it to covariates and several
instruments: the treatment is replaced by its fitted values from the
regression on the instruments and covariates (the first stage).

The 2SLS algebra is ``linearmodels``' ``IV2SLS`` (an optional dependency:
``pip install "causalattn[iv]"``).

References
----------
Angrist, J. D., Imbens, G. W. and Rubin, D. B. (1996). Identification of
causal effects using instrumental variables. *JASA* 91, 444-455.

Staiger, D. and Stock, J. H. (1997). Instrumental variables regression with
weak instruments. *Econometrica* 65, 557-586.

Card, D. (1995). Using geographic variation in college proximity to estimate
the return to schooling. In *Aspects of Labour Market Behaviour*, 201-222.

Ding, P. (2024). *A First Course in Causal Inference*, ch. 21 (the
instrumental variable and the CACE) and ch. 23 (2SLS). CRC Press.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.linear_model import OLS

from causalattn import _scaled_fit
from causalattn._validation import (
    as_float_array,
    check_choice,
    check_columns,
    check_confidence_level,
    check_same_index,
)
from causalattn.estimate import ConfidenceInterval, Estimate, normal_estimate
from causalattn.observational._data import asymptotics, binary_treatment, check_scale, distinct_roles, units_iv
from causalattn.observational._design import check_collinear

__all__ = ["WeakInstrumentWarning", "cace", "tsls"]

COV_TYPES = ("classical", "HC0", "HC1", "HC2", "HC3")
# First-stage F below WEAK warns (Staiger and Stock's rule of thumb); below NONE there is no first stage.
WEAK_F = 10.0
NO_FIRST_STAGE_F = 1e-6
# A first stage whose residual sum of squares is below this share of the total fits exactly.
EXACT_FIT = 1e-12


class WeakInstrumentWarning(UserWarning):
    """The first-stage F statistic is below 10: 2SLS and Wald estimates are biased towards OLS, intervals unreliable."""


def check_first_stage(f: float) -> None:
    """Raise if the instrument has no first stage (F near 0); warn if it is weak (F < 10)."""
    if not f >= NO_FIRST_STAGE_F:
        raise ValueError(f"`instrument` has no first stage: the first-stage F statistic is {f:.3g} (the instrument "
                         "does not move the treatment), so the IV estimate is undefined")
    if f < WEAK_F:
        warnings.warn(f"weak instrument: first-stage F = {f:.3g} < {WEAK_F:g}; the IV estimate is biased towards "
                      "OLS and its normal interval is unreliable", WeakInstrumentWarning, stacklevel=3)


def _instrument_column(data: Any, instrument: Any) -> tuple[str, np.ndarray]:
    if data is None:
        if isinstance(instrument, str):
            raise TypeError(f"`instrument` is a column name ({instrument!r}) but `data` is None")
        return "instrument", as_float_array("instrument", instrument, vector=False)
    if not isinstance(instrument, str):
        raise TypeError(f"`instrument` must be a column name when `data` is given, got {type(instrument).__name__}")
    check_columns(data, instrument=instrument)
    return instrument, as_float_array("instrument", data[instrument], column=instrument)


def _cace_iv(data, outcome, treatment, instrument, confidence_level):
    """Validate the arguments of :func:`cace`: the units (binary treatment) and the binary instrument."""
    level = check_confidence_level(confidence_level)
    if instrument is None:
        raise ValueError("`instrument` is required")
    units = units_iv(data, outcome, treatment, None, need_covariates=False, others={"instrument": instrument})
    name, raw = _instrument_column(data, instrument)
    if raw.shape != units.z.shape:
        raise ValueError(f"`instrument` must have one value per unit ({units.n}), got shape {raw.shape}")
    try:
        z = binary_treatment(raw)
    except ValueError as exc:
        raise ValueError(str(exc).replace("`treatment`", "`instrument`")) from None
    if min(int(z.sum()), int(len(z) - z.sum())) < 2:
        raise ValueError("`instrument` must have at least 2 units at each value for the variances")
    distinct_roles({"instrument": {name: raw}, "treatment": {units.treatment: units.z},
                    "outcome": {units.outcome: units.y}})
    return units, name, z, level


def cace(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    instrument: Any = None,
    *,
    confidence_level: float = 0.95,
) -> Estimate:
    r"""The Wald estimator of the complier average causal effect, with its delta-method standard error.

    :math:`\hat\tau_c = \widehat{ITT}_Y / \widehat{ITT}_D` (module docstring).
    By the delta method,
    :math:`\widehat{\mathrm{var}}(\hat\tau_c) = \{S^2_{R,1}/n_1 + S^2_{R,0}/n_0\} / \widehat{ITT}_D^2`
    with :math:`R_i = Y_i - \hat\tau_c D_i` and :math:`S^2_{R,z}` its sample
    variance in arm :math:`Z = z` (Ding 2024, ch. 21). The first stage
    :math:`\widehat{ITT}_D` (the share of compliers) and the intention-to-treat
    effect :math:`\widehat{ITT}_Y` are reported as Neyman estimates in
    ``details``; the first-stage F is :math:`(\widehat{ITT}_D / se)^2`.

    Parameters
    ----------
    data : DataFrame or None
        The units; ``None`` to pass arrays.
    outcome : str or array_like
        Outcome :math:`Y`.
    treatment : str or array_like
        Treatment received :math:`D`, binary.
    instrument : str or array_like
        Instrument (assignment, encouragement) :math:`Z`, binary.
    confidence_level : float

    Returns
    -------
    Estimate
        ``estimand`` ``"CACE"``, ``method`` ``"wald-delta"``; ``details`` has
        ``first_stage`` and ``itt`` (Estimates), ``first_stage_f`` and ``asymptotics``.
        The interval and p-value are large-sample normal
        (``details["distribution"]`` is ``"normal"``; see :mod:`causalattn.observational`).

    Warns
    -----
    WeakInstrumentWarning
        If the first-stage F is below 10.
    SmallSampleWarning
        Fewer than 20 units at a value of the instrument.

    Raises
    ------
    ValueError
        A non-binary treatment or instrument, fewer than 2 units at a value of
        the instrument, an instrument that is the treatment or the outcome, or
        no first stage (F near 0).

    References
    ----------
    Angrist, J. D., Imbens, G. W. and Rubin, D. B. (1996). *JASA* 91, 444-455.

    Ding, P. (2024). *A First Course in Causal Inference*, ch. 21. CRC Press.

    Examples
    --------
    >>> from causalattn import datasets
    >>> from causalattn.observational import cace
    >>> card = datasets.load("card")
    >>> card["college"] = (card["educ"] >= 16).astype(int)
    >>> est = cace(card, "lwage", "college", "nearc4")
    >>> round(est.estimate, 3), round(est.details["first_stage"].estimate, 3)
    (2.274, 0.069)
    """
    units, name, z, level = _cace_iv(data, outcome, treatment, instrument, confidence_level)
    y, d = units.y, units.z.astype(float)
    arms = (z == 1, z == 0)
    n1, n0 = (int(a.sum()) for a in arms)
    itt_d, itt_y = (float(v[arms[0]].mean() - v[arms[1]].mean()) for v in (d, y))
    se_d, se_y = (math.sqrt(v[arms[0]].var(ddof=1) / n1 + v[arms[1]].var(ddof=1) / n0) for v in (d, y))
    f = (itt_d / se_d) ** 2 if se_d > 0 else (math.inf if itt_d != 0 else math.nan)
    check_first_stage(f)
    tau = itt_y / itt_d
    r = y - tau * d
    se = math.sqrt(r[arms[0]].var(ddof=1) / n1 + r[arms[1]].var(ddof=1) / n0) / abs(itt_d)
    details = {
        "first_stage": normal_estimate("ITT on treatment", itt_d, se_d, confidence_level=level, method="neyman",
                                       n=units.n),
        "itt": normal_estimate("ITT on outcome", itt_y, se_y, confidence_level=level, method="neyman", n=units.n),
        "first_stage_f": f,
        "instrument": name,
        "distribution": "normal",
        "asymptotics": asymptotics("cace", {f"{name} = 1": n1, f"{name} = 0": n0}),
    }
    return normal_estimate("CACE", tau, se, confidence_level=level, method="wald-delta", n=units.n,
                           details=details)


def _iv2sls():
    try:
        from linearmodels.iv import IV2SLS
    except ImportError:
        raise ImportError('two-stage least squares needs linearmodels: pip install "causalattn[iv]"') from None
    return IV2SLS


def _columns(data: Any, arg: str, value: Any) -> pd.DataFrame:
    """Named float columns of one role (one or several columns, or an array)."""
    if data is not None:
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, (list, tuple)) or not all(isinstance(c, str) for c in names) or not names:
            raise TypeError(f"`{arg}` must be a column name or a non-empty list of names when `data` is given")
        check_columns(data, **{arg: list(names)})
        return pd.DataFrame({c: as_float_array(arg, data[c], column=c) for c in names})
    if isinstance(value, pd.DataFrame):
        return pd.DataFrame({str(c): as_float_array(arg, value[c], column=str(c)) for c in value.columns})
    arr = as_float_array(arg, value, vector=False)
    if arr.ndim == 1:
        arr = arr[:, None]
    return pd.DataFrame(arr, columns=[arg] if arr.shape[1] == 1 else [f"{arg}{j}" for j in range(arr.shape[1])])


def tsls(
    data: pd.DataFrame | None = None,
    outcome: Any = None,
    treatment: Any = None,
    instruments: Any = None,
    covariates: Any = None,
    *,
    cov_type: str = "HC2",
    confidence_level: float = 0.95,
) -> Estimate:
    r"""Two-stage least squares coefficient of the treatment, with covariates (``linearmodels.IV2SLS``).

    Structural equation :math:`Y = \alpha + \tau D + \beta^\top X + \varepsilon`,
    first stage :math:`D = \gamma_0 + \gamma^\top Z + \delta^\top X + v`. With
    :math:`W = (1, D, X)`, instruments :math:`\tilde Z = (1, Z, X)` and
    :math:`\hat W = P_{\tilde Z} W`, :math:`\hat\theta = (\hat W^\top W)^{-1}\hat W^\top Y`.
    Covariances: ``"classical"`` :math:`\hat\sigma^2(\hat W^\top\hat W)^{-1}`
    with :math:`\hat\sigma^2 = \sum_i\hat\varepsilon_i^2/(n-p)` (t interval on
    :math:`n - p` degrees of freedom, as R's ``AER::ivreg``); ``"HC0"``-``"HC3"``
    the Eicker-Huber-White sandwich
    :math:`(\hat W^\top\hat W)^{-1}\hat W^\top\mathrm{diag}(\omega_i)\hat W(\hat W^\top\hat W)^{-1}`
    with :math:`\omega_i = \hat\varepsilon_i^2` (HC0), times :math:`n/(n-p)`
    (HC1), :math:`\hat\varepsilon_i^2/(1-h_{ii})` (HC2) or
    :math:`\hat\varepsilon_i^2/(1-h_{ii})^2` (HC3), with the 2SLS leverage
    :math:`h_{ii} = w_i^\top(\hat W^\top\hat W)^{-1}\hat w_i` (as ``sandwich::vcovHC``
    on an ``AER::ivreg`` fit); normal
    intervals. Classical, HC0 and HC1 are ``linearmodels``' own
    (``"unadjusted"``/``"robust"``, ``debiased`` for the degrees of freedom).

    The answer does not depend on the units of the data: ``IV2SLS`` solves the
    problem with every column (outcome, treatment, instruments, covariates)
    divided by a power of two near its largest value
    (:func:`causalattn._scaled_fit.column_scales`), and the coefficients
    :math:`\hat\theta_j = \tilde\theta_j\, s_Y / s_j` and their covariance
    :math:`V_{jk} = \tilde V_{jk}\, s_Y^2 / (s_j s_k)` are mapped back to the
    data's units exactly (powers of two); the first-stage F is unchanged by
    scaling. (On the raw columns, a covariate in units of 1e12 moved the
    estimate by 2e-6 relative, and linearmodels refused one in units of 1e20.)

    The first-stage F statistic of the excluded instruments (``linearmodels``'
    partial F, with the same covariance type: classical for ``"classical"``,
    robust otherwise) is in ``details``; below 10 a
    :class:`WeakInstrumentWarning` is issued, near 0 it is an error.

    Parameters
    ----------
    data : DataFrame or None
        The units; ``None`` to pass arrays.
    outcome, treatment : str or array_like
        Outcome and the (endogenous) treatment; the treatment need not be binary.
    instruments : str, list of str or array_like
        Excluded instruments.
    covariates : list of str or array_like, optional
        Exogenous covariates, in both stages.
    cov_type : {"classical", "HC0", "HC1", "HC2", "HC3"}
    confidence_level : float

    Returns
    -------
    Estimate
        ``estimand`` ``"2SLS coefficient of <treatment>"``, ``method``
        ``"2sls-<cov_type>"``; ``details`` has ``first_stage_f``, ``coefficients``
        (every coefficient in the data's units, with the standard error, statistic,
        p-value and interval of the same ``cov_type``: a DataFrame with the columns
        of :func:`causalattn.regression.ols`' ``details["coefficients"]``),
        ``instruments``, ``covariates``, ``df_resid``, ``asymptotics``, and
        ``scaled_fit``: linearmodels' results on the *scaled* columns, whose
        scales (powers of two, by column) ``details["scales"]`` gives per role
        (``"outcome"``, ``"treatment"``, ``"instruments"``, ``"covariates"``,
        the last with ``const``); its coefficient of column ``j`` times
        ``scales["outcome"]`` over column ``j``'s scale is the coefficient in
        the data's units (its HC2/HC3 standard errors are linearmodels' HC0).

    Warns
    -----
    WeakInstrumentWarning
        If the first-stage F is below 10.
    SmallSampleWarning
        Fewer than 20 residual degrees of freedom.

    Raises
    ------
    ValueError
        An instrument that is the treatment, the outcome or a covariate (a
        column under two arguments), a treatment that the instruments and
        covariates fit exactly, collinear instruments and covariates, or no
        first stage.
    ImportError
        If linearmodels is not installed (``pip install "causalattn[iv]"``).

    References
    ----------
    Ding, P. (2024). *A First Course in Causal Inference*, ch. 23. CRC Press.

    Staiger, D. and Stock, J. H. (1997). *Econometrica* 65, 557-586.

    Examples
    --------
    >>> from causalattn import datasets
    >>> from causalattn.observational import tsls
    >>> card = datasets.load("card")
    >>> est = tsls(card, "lwage", "educ", "nearc4", ["exper", "black", "south", "smsa"])
    >>> round(est.estimate, 4), round(est.details["first_stage_f"], 1)
    (0.1318, 17.6)
    """
    IV2SLS = _iv2sls()
    y, d, z, exog, cov_type, level = _tsls_iv(data, outcome, treatment, instruments, covariates, cov_type,
                                              confidence_level)
    (ys, y_scale), (ds, d_scale), (zs, z_scale), (xs, x_scale) = (_scaled(frame) for frame in (y, d, z, exog))
    fit = IV2SLS(ys.iloc[:, 0], xs, ds, zs).fit(cov_type="unadjusted" if cov_type == "classical" else "robust",
                                               debiased=cov_type in ("classical", "HC1"))
    f = float(fit.first_stage.diagnostics["f.stat"].iloc[0])
    check_first_stage(f)
    names = list(fit.params.index)  # the covariates (with the constant), then the treatment
    if cov_type in ("HC2", "HC3"):
        cov = _leverage_cov(xs.to_numpy(), ds.to_numpy(), zs.to_numpy(), fit.resids.to_numpy(), cov_type)
    else:
        cov = fit.cov.loc[names, names].to_numpy()
    factor = float(y_scale.iloc[0]) / np.concatenate([x_scale, d_scale])  # exact: powers of two
    n, p = len(y), len(names)
    dist = stats.t(n - p) if cov_type == "classical" else stats.norm()
    coefficients = _coefficient_table(fit.params.to_numpy() * factor, np.sqrt(np.diag(cov)) * factor, names, dist,
                                      level)
    term = d.columns[0]
    row = coefficients.loc[term]
    details = {"first_stage_f": f, "coefficients": coefficients, "scaled_fit": fit,
               "scales": {"outcome": y_scale, "treatment": d_scale, "instruments": z_scale, "covariates": x_scale},
               "instruments": ", ".join(z.columns), "covariates": ", ".join(exog.columns[1:]) or "none",
               "cov_type": cov_type, "distribution": "t" if cov_type == "classical" else "normal",
               "df_resid": n - p,
               "asymptotics": asymptotics("tsls", {"the residual degrees of freedom (n - p)": n - p})}
    return Estimate(f"2SLS coefficient of {term}", float(row["estimate"]), float(row["standard_error"]),
                    ConfidenceInterval(float(row["ci_low"]), float(row["ci_high"])), level, float(row["pvalue"]),
                    f"2sls-{cov_type}", n, details=details)


def _scaled(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series]:
    """``frame`` with each column divided by its power of two (:func:`causalattn._scaled_fit.column_scales`), and the
    scales: the division is exact, and so is scaling the results back."""
    scales = pd.Series(_scaled_fit.column_scales(frame.to_numpy()), index=frame.columns)
    return frame / scales, scales


def _coefficient_table(estimates: np.ndarray, standard_errors: np.ndarray, names: list[str], dist: Any,
                       level: float) -> pd.DataFrame:
    """Estimate, standard error, statistic, two-sided p-value and interval of each coefficient under ``dist``."""
    statistic = estimates / standard_errors
    half = dist.ppf(0.5 + level / 2) * standard_errors
    return pd.DataFrame({"estimate": estimates, "standard_error": standard_errors, "statistic": statistic,
                         "pvalue": 2 * dist.sf(np.abs(statistic)), "ci_low": estimates - half,
                         "ci_high": estimates + half}, index=names)


def _tsls_iv(data, outcome, treatment, instruments, covariates, cov_type, confidence_level):
    """Validate the arguments of :func:`tsls`: outcome, treatment, instruments, exogenous columns (with a constant)."""
    cov_type = check_choice("cov_type", cov_type, COV_TYPES)
    level = check_confidence_level(confidence_level)
    if instruments is None:
        raise ValueError("`instruments` is required")
    if outcome is None or treatment is None:
        raise ValueError("`outcome` and `treatment` are required")
    if data is not None and not isinstance(data, pd.DataFrame):
        raise TypeError(f"`data` must be a pandas DataFrame or None, got {type(data).__name__}")
    if data is None:
        check_same_index(outcome=outcome, treatment=treatment, instruments=instruments, covariates=covariates)
    y, d = _columns(data, "outcome", outcome), _columns(data, "treatment", treatment)
    if y.shape[1] != 1 or d.shape[1] != 1:
        raise ValueError("`outcome` and `treatment` must each be one column")
    z = _columns(data, "instruments", instruments)
    exog = _columns(data, "covariates", covariates) if covariates is not None else pd.DataFrame(index=y.index)
    if len({len(y), len(d), len(z), len(exog)}) > 1:
        raise ValueError("`outcome`, `treatment`, `instruments` and `covariates` must have the same length")
    for arg, frame, constant in (("outcome", y, False), ("treatment", d, True), ("instruments", z, True),
                                 ("covariates", exog, True)):
        check_scale(arg, frame.to_numpy(), constant=constant)
    distinct_roles({role: {c: frame[c].to_numpy() for c in frame.columns}
                    for role, frame in (("instruments", z), ("treatment", d), ("outcome", y), ("covariates", exog))})
    named = {"const": "the intercept that tsls adds"}
    for arg, frame in (("treatment", d), ("instruments", z), ("covariates", exog)):
        for column in frame.columns:  # before: pandas' "cannot insert const, already exists"
            if column in named:
                raise ValueError(f"`{arg}` has a column named {column!r}, the name of {named[column]}: the "
                                 "coefficients are named by column; rename it")
            named[column] = f"a column of `{arg}`"
    exog.insert(0, "const", 1.0)
    _first_stage_iv(exog, d, z)
    return y, d, z, exog, cov_type, level


def _first_stage_iv(exog: pd.DataFrame, d: pd.DataFrame, z: pd.DataFrame) -> None:
    """Reject collinear instruments and covariates, and instruments without a first stage (classical F near 0)."""
    design = np.column_stack([exog.to_numpy(), z.to_numpy()])
    check_collinear(design[:, 1:], [*exog.columns[1:], *z.columns], arg="instruments` and `covariates")
    fit = _scaled_fit.least_squares(OLS(d.iloc[:, 0].to_numpy(), design), outcome=f"`treatment` {d.columns[0]!r}",
                                    names=["the intercept", *(f"`covariates` {c!r}" for c in exog.columns[1:]),
                                           *(f"`instruments` {c!r}" for c in z.columns)])
    if fit.ssr <= EXACT_FIT * fit.centered_tss:
        raise ValueError("`treatment` is an exact linear function of `instruments` and `covariates` (the first stage "
                         "fits every unit): it has no endogenous part left, and 2SLS would be OLS; pass instruments "
                         "other than the treatment")
    restriction = np.eye(design.shape[1])[exog.shape[1]:]
    f = float(np.squeeze(fit.f_test(restriction).fvalue))
    if not f >= NO_FIRST_STAGE_F:
        check_first_stage(f)


def _leverage_cov(exog: np.ndarray, d: np.ndarray, z: np.ndarray, resid: np.ndarray, cov_type: str) -> np.ndarray:
    """HC2/HC3 covariance of the 2SLS coefficients (covariates, then treatment), with the leverage of the projected
    regressors, on column-scaled data (:func:`_scaled`: the leverage does not depend on the columns' units)."""
    instruments = np.column_stack([exog, z])
    regressors = np.column_stack([exog, d])
    projected = instruments @ np.linalg.lstsq(instruments, regressors, rcond=None)[0]
    bread = np.linalg.inv(projected.T @ projected)
    leverage = np.einsum("ij,jk,ik->i", regressors, bread, projected)  # AER's hatvalues.ivreg
    if leverage.max() > 1 - 1e-8:
        raise ValueError(f"the {cov_type} standard error is undefined: a unit has leverage 1; choose another "
                         "`cov_type`")
    omega = resid**2 / (1 - leverage) ** (1 if cov_type == "HC2" else 2)
    return bread @ (projected.T * omega) @ projected @ bread
