"""simpson(): kidney stones and Berkeley against hand computations and statsmodels; verdicts; bad input."""

import math

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from statsmodels.stats.contingency_tables import StratifiedTable as SMStratifiedTable

from causalattn import SimpsonResult, datasets, simpson

matplotlib.use("Agg")

# Berkeley 1973, admitted / applicants (Bickel et al. 1975)
MEN = {"A": (512, 825), "B": (353, 560), "C": (120, 325), "D": (138, 417), "E": (53, 191), "F": (22, 373)}
WOMEN = {"A": (89, 108), "B": (17, 25), "C": (202, 593), "D": (131, 375), "E": (94, 393), "F": (24, 341)}


def units(cells):
    """One row per unit from {(stratum, z, y): count}."""
    rows = [(s, z, y) for (s, z, y), k in cells.items() for _ in range(k)]
    return pd.DataFrame(rows, columns=["x", "z", "y"])


def kidney_stones(scale=1):
    counts = {("small", 1, 1): 81, ("small", 1, 0): 6, ("small", 0, 1): 234, ("small", 0, 0): 36,
              ("large", 1, 1): 192, ("large", 1, 0): 71, ("large", 0, 1): 55, ("large", 0, 0): 25}
    return units({k: v * scale for k, v in counts.items()})


def test_kidney_stones_reversal_within_noise():
    res = simpson(datasets.load("kidney_stones"), "treatment", "success", "stone_size")
    assert isinstance(res, SimpsonResult)
    # marginal: open surgery 273/350, PCNL 289/350
    assert res.marginal.estimate == pytest.approx(273 / 350 - 289 / 350)
    by = {e.details["stratum"]: e.estimate for e in res.by_stratum}
    assert by == pytest.approx({"small": 81 / 87 - 234 / 270, "large": 192 / 263 - 55 / 80})
    # Mantel-Haenszel RD: weights n1 n0 / N
    w_small, w_large = 87 * 270 / 357, 263 * 80 / 343
    rd_mh = (w_small * by["small"] + w_large * by["large"]) / (w_small + w_large)
    assert res.mantel_haenszel.estimate == pytest.approx(rd_mh)
    # standardized RD: stratum shares 357/700 and 343/700 (Ding ch. 1)
    assert res.standardized.estimate == pytest.approx(357 / 700 * by["small"] + 343 / 700 * by["large"])
    assert round(res.standardized.estimate, 4) == 0.0537
    assert res.reverses and not res.reversal_is_clear
    assert "Simpson's reversal" in res.verdict and "within noise" in res.verdict
    assert "the marginal interval and 2 of 2 stratum intervals include 0" in res.verdict


def test_kidney_stones_ten_times_larger_is_a_clear_reversal():
    res = simpson(kidney_stones(scale=10), "z", "y", "x")
    assert res.reverses and res.reversal_is_clear
    assert "statistically clear" in res.verdict
    assert res.marginal.estimate == pytest.approx(-16 / 350)


@pytest.mark.parametrize("measure", ["risk_ratio", "odds_ratio"])
def test_kidney_stones_ratios(measure):
    res = simpson(kidney_stones(), "z", "y", "x", measure=measure)
    assert res.reverses and not res.reversal_is_clear
    p = {"small": (81 / 87, 234 / 270), "large": (192 / 263, 55 / 80)}
    if measure == "risk_ratio":
        marginal, by = (273 / 350) / (289 / 350), {k: p1 / p0 for k, (p1, p0) in p.items()}
    else:
        marginal = (273 * 61) / (77 * 289)
        by = {"small": 81 * 36 / (6 * 234), "large": 192 * 25 / (71 * 55)}
    assert res.marginal.estimate == pytest.approx(marginal)
    assert {e.details["stratum"]: e.estimate for e in res.by_stratum} == pytest.approx(by)
    sm = SMStratifiedTable([np.array([[81, 6], [234, 36]]), np.array([[192, 71], [55, 25]])])
    pooled = sm.oddsratio_pooled if measure == "odds_ratio" else sm.riskratio_pooled
    assert res.mantel_haenszel.estimate == pytest.approx(pooled)
    # standardized risks, shares 0.51 and 0.49
    p1 = 0.51 * p["small"][0] + 0.49 * p["large"][0]
    p0 = 0.51 * p["small"][1] + 0.49 * p["large"][1]
    expected = p1 / p0 if measure == "risk_ratio" else p1 * (1 - p0) / (p0 * (1 - p1))
    assert res.standardized.estimate == pytest.approx(expected)
    low, high = res.standardized.confidence_interval
    assert low < expected < high
    assert res.plot().axes[0].get_xscale() == "log"


def test_standardized_ratio_standard_error_by_delta_method():
    res = simpson(kidney_stones(), "z", "y", "x", measure="risk_ratio")
    n1, n0 = np.array([87, 263]), np.array([270, 80])
    p1k, p0k = np.array([81 / 87, 192 / 263]), np.array([234 / 270, 55 / 80])
    pi = np.array([0.51, 0.49])
    p1, p0 = pi @ p1k, pi @ p0k
    var_log = (pi**2 @ (p1k * (1 - p1k) / n1)) / p1**2 + (pi**2 @ (p0k * (1 - p0k) / n0)) / p0**2
    assert res.standardized.standard_error == pytest.approx(math.sqrt(var_log))


def test_berkeley_no_reversal_but_department_explains_the_gap():
    res = simpson(datasets.load("berkeley_admissions"), "female", "admitted", "department")
    # marginal: women 557/1835, men 1198/2691
    assert res.marginal.estimate == pytest.approx(557 / 1835 - 1198 / 2691)
    assert round(res.marginal.estimate, 4) == -0.1416
    assert res.marginal.confidence_interval.high < 0
    by = {e.details["stratum"]: e.estimate for e in res.by_stratum}
    assert by == pytest.approx({d: WOMEN[d][0] / WOMEN[d][1] - MEN[d][0] / MEN[d][1] for d in MEN})
    assert sum(v > 0 for v in by.values()) == 4  # A, B, D, F favour women; C, E men
    assert not res.reverses and not res.reversal_is_clear
    assert res.verdict.startswith("No reversal: the strata of 'department' disagree")
    assert "accounts for the clear marginal association" in res.verdict
    low, high = res.mantel_haenszel.confidence_interval
    assert low < 0 < high


def test_berkeley_mantel_haenszel_odds_ratio_by_hand_and_statsmodels():
    res = simpson(datasets.load("berkeley_admissions"), "female", "admitted", "department", measure="odds_ratio")
    num = den = 0.0
    tables = []
    for d in MEN:
        a, n1 = WOMEN[d]
        c, n0 = MEN[d]
        b, dd = n1 - a, n0 - c
        num += a * dd / (n1 + n0)
        den += b * c / (n1 + n0)
        tables.append(np.array([[a, b], [c, dd]]))
    assert res.mantel_haenszel.estimate == pytest.approx(num / den)
    assert res.mantel_haenszel.estimate == pytest.approx(SMStratifiedTable(tables).oddsratio_pooled)
    # R: mantelhaen.test(UCBAdmissions) reports the common odds ratio male vs female, 0.9046968
    assert 1 / res.mantel_haenszel.estimate == pytest.approx(0.9046968, abs=5e-7)
    assert res.marginal.estimate == pytest.approx(557 * 1493 / (1278 * 1198))


def test_no_reversal_when_strata_agree_with_the_margin():
    cells = {("a", 1, 1): 30, ("a", 1, 0): 10, ("a", 0, 1): 20, ("a", 0, 0): 20,
             ("b", 1, 1): 15, ("b", 1, 0): 25, ("b", 0, 1): 5, ("b", 0, 0): 35}
    res = simpson(units(cells), "z", "y", "x")
    assert not res.reverses and not res.reversal_is_clear
    assert res.verdict.startswith("No reversal: overall, y = 1 is more common with z = 1")
    assert "so it is in every stratum" in res.verdict


def test_summary_repr_and_plot():
    res = simpson(kidney_stones(), "z", "y", "x")
    text = res.summary()
    assert "risk difference (marginal)" in text and "risk difference (MH)" in text
    assert "risk difference [small]" in text and res.verdict in text
    assert "\n" not in repr(res) and "reverses=True" in repr(res)
    frame = res.estimates().to_frame()
    assert len(frame) == 5
    fig = res.plot()
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "marginal (crude)" and "x = small" in labels and "Mantel-Haenszel" in labels


def test_confidence_level_and_correction_are_passed_on():
    res = simpson(kidney_stones(), "z", "y", "x", confidence_level=0.9, correction=0.5)
    for e in [res.marginal, *res.by_stratum, res.mantel_haenszel, res.standardized]:
        assert e.confidence_level == 0.9
        assert e.details["correction"] == 0.5
    assert res.marginal.estimate == pytest.approx(273.5 / 351 - 289.5 / 351)


def test_zero_cell_in_a_stratum_gives_a_documented_ratio():
    cells = {("a", 1, 1): 10, ("a", 1, 0): 0, ("a", 0, 1): 5, ("a", 0, 0): 5,
             ("b", 1, 1): 3, ("b", 1, 0): 7, ("b", 0, 1): 2, ("b", 0, 0): 8}
    res = simpson(units(cells), "z", "y", "x", measure="odds_ratio")
    stratum_a = res.by_stratum[0]
    assert stratum_a.estimate == math.inf and "note" in stratum_a.details
    assert res.reverses is False


def test_bad_input():
    df = kidney_stones()
    with pytest.raises(ValueError, match=r"`measure` must be one of \['risk_difference', 'risk_ratio', 'odds_ratio'\]"):
        simpson(df, "z", "y", "x", measure="risk difference")
    with pytest.raises(TypeError, match="`treatment` must be a column name"):
        simpson(df, 1, "y", "x")
    with pytest.raises(ValueError, match="`strata`: column 'w' is not in `data`"):
        simpson(df, "z", "y", "w")
    with pytest.raises(ValueError, match="`treatment`, `outcome` and `strata` must be three different columns"):
        simpson(df, "z", "y", "y")
    with pytest.raises(TypeError, match="`data` must be a pandas DataFrame"):
        simpson(df.to_numpy(), "z", "y", "x")
    with pytest.raises(ValueError, match="`confidence_level` must be in"):
        simpson(df, "z", "y", "x", confidence_level=95)
    with pytest.raises(ValueError, match="`correction` must be None or a positive"):
        simpson(df, "z", "y", "x", correction=-1)
    with pytest.raises(ValueError, match="`outcome` must be binary"):
        simpson(df.assign(y=df["y"] * 2), "z", "y", "x")
    no_controls = df[~((df["x"] == "small") & (df["z"] == 0))]
    with pytest.raises(ValueError, match="`strata`: stratum 'small' has no control"):
        simpson(no_controls, "z", "y", "x")
