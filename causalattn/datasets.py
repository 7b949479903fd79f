"""Bundled data sets: classic tables for association and Simpson's paradox, LaLonde, tiny-Shakespeare counts.

Everything ships with the package (nothing is downloaded); :func:`load` returns
a :class:`pandas.DataFrame` and :func:`available` lists the names. The files,
their sources and the scripts that made them are described in the
repository's ``datasets/README.md``.

================================  ==============================================================
name                              contents
================================  ==============================================================
``"kidney_stones"``               700 patients, Charig et al. (1986)
``"berkeley_admissions"``         4,526 applicants to six departments, Bickel et al. (1975)
``"lalonde_nsw"``                 NSW experiment, Dehejia-Wahba subsample, 445 men
``"lalonde_cps1"``                185 NSW treated + 15,992 CPS-1 controls (Ding's ``cps1re74``)
``"card"``                        3,010 men, college proximity as an instrument for schooling, Card (1995)
``"framing"``                     265 subjects of a framing experiment, Brader, Valentino & Suhay (2008)
``"lipids_chd"``                  28 variants' associations with lipids and heart disease, Waterworth et al. (2010)
``"time_varying"``                2,000 simulated subjects, treatments at 2 times, a confounder affected by treatment
``"shakespeare_unigram"``         character counts of tiny Shakespeare (65 characters)
``"shakespeare_bigram"``          65 x 65 consecutive-character counts of tiny Shakespeare
================================  ==============================================================

Examples
--------
>>> from causalattn import datasets
>>> df = datasets.load("kidney_stones")
>>> list(df.columns), len(df), int(df["success"].sum())
(['stone_size', 'treatment', 'success'], 700, 562)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = ["available", "describe", "load", "shakespeare_bigram_model"]


def _data_dir() -> Traversable:
    """The folder holding the data files.

    In an installed wheel the files live in the package as ``causalattn/_datasets``
    (``pyproject.toml`` force-includes ``datasets/`` there); in an editable
    install they are the repository's ``datasets/`` folder next to the package.
    """
    packaged = resources.files("causalattn") / "_datasets"
    if packaged.is_dir():
        return packaged
    repository = Path(__file__).resolve().parent.parent / "datasets"
    if repository.is_dir():
        return repository
    raise FileNotFoundError(
        f"causalattn's data files are missing: neither {packaged} nor {repository} exists; reinstall the package"
    )


def _read_csv(filename: str, **kwargs) -> pd.DataFrame:
    with (_data_dir() / filename).open("rb") as handle:
        return pd.read_csv(handle, **kwargs)


def _expand_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """One row per unit: each row of ``counts`` repeated ``count`` times (in file order), ``count`` dropped."""
    units = counts.loc[counts.index.repeat(counts["count"])].drop(columns="count")
    return units.reset_index(drop=True)


def _kidney_stones() -> pd.DataFrame:
    units = _expand_counts(_read_csv("kidney_stones.csv"))
    units["stone_size"] = pd.Categorical(units["stone_size"], categories=["small", "large"])
    return units.astype({"treatment": "int64", "success": "int64"})


def _berkeley_admissions() -> pd.DataFrame:
    units = _expand_counts(_read_csv("berkeley_admissions.csv"))
    units["department"] = pd.Categorical(units["department"], categories=list("ABCDEF"))
    return units.astype({"female": "int64", "admitted": "int64"})


def _lalonde_nsw() -> pd.DataFrame:
    return _read_csv("lalonde_nsw.csv", dtype=_LALONDE_DTYPES)


def _lalonde_cps1() -> pd.DataFrame:
    data = _read_csv("lalonde_cps1.csv", dtype=_LALONDE_DTYPES)
    data["u74"] = (data["re74"] == 0).astype("int64")
    data["u75"] = (data["re75"] == 0).astype("int64")
    return data


def _card() -> pd.DataFrame:
    return _read_csv("card.csv", dtype={**dict.fromkeys(_CARD_INTEGERS, "int64"), "lwage": "float64",
                                        "married": "Int64"})


_FRAMING_LEVELS = {
    "anx": ["not anxious at all", "a little anxious", "somewhat anxious", "very anxious"],
    "educ": ["less than high school", "high school", "some college", "bachelor's degree or higher"],
    "gender": ["male", "female"],
    "english": ["Strongly Oppose", "Oppose", "Favor", "Strongly Favor"],
}


def _framing() -> pd.DataFrame:
    data = _read_csv("framing.csv", dtype={name: "str" for name in _FRAMING_LEVELS})
    for name, levels in _FRAMING_LEVELS.items():
        data[name] = pd.Categorical(data[name], categories=levels, ordered=name != "gender")
    return data.astype({name: "int64" for name in data.columns if name not in _FRAMING_LEVELS})


def _lipids_chd() -> pd.DataFrame:
    return _read_csv("lipids_chd.csv", dtype={"variant": "str", "effect_allele": "str", "other_allele": "str"})


def _time_varying() -> pd.DataFrame:
    return _read_csv("time_varying.csv", dtype={"id": "int64", "a0": "int64", "a1": "int64"})


def _shakespeare_unigram() -> pd.DataFrame:
    counts = _read_csv("shakespeare_unigram.csv", dtype="int64")
    counts.insert(1, "char", counts.pop("codepoint").map(chr))
    return counts


def _shakespeare_bigram() -> pd.DataFrame:
    return _read_csv("shakespeare_bigram.csv", dtype="int64")


_LALONDE_DTYPES = {
    **dict.fromkeys(["treat", "age", "educ", "black", "hispan", "married", "nodegree", "u74", "u75"], "int64"),
    **dict.fromkeys(["re74", "re75", "re78"], "float64"),
}


_CARD_INTEGERS = ["educ", "nearc4", "exper", "black", "south", "smsa"]


@dataclass(frozen=True)
class _Dataset:
    description: str
    source: str
    reader: Callable[[], pd.DataFrame]


_DATASETS: dict[str, _Dataset] = {
    "kidney_stones": _Dataset(
        "Success of kidney-stone removal by treatment and stone size, 700 patients (one row per patient).",
        "Charig, Webb, Payne & Wickham (1986). Comparison of treatment of renal calculi by open surgery, "
        "percutaneous nephrolithotomy, and extracorporeal shockwave lithotripsy. BMJ 292:879-882, Table II. "
        "Small stones: open 81/87, PCNL 234/270 successes; large stones: open 192/263, PCNL 55/80.",
        _kidney_stones,
    ),
    "berkeley_admissions": _Dataset(
        "UC Berkeley graduate admissions, fall 1973, the six largest departments, 4,526 applicants "
        "(one row per applicant).",
        "Bickel, Hammel & O'Connell (1975). Sex bias in graduate admissions: data from Berkeley. "
        "Science 187:398-404; the counts are R's datasets::UCBAdmissions.",
        _berkeley_admissions,
    ),
    "lalonde_nsw": _Dataset(
        "National Supported Work experiment, Dehejia-Wahba subsample: 445 men, 185 treated, 260 controls "
        "(R package Matching's `lalonde`).",
        "LaLonde (1986), American Economic Review 76:604-620; Dehejia & Wahba (1999), JASA 94:1053-1062. "
        "Built by datasets/build_lalonde.py from causaldata.nsw_mixtape, earnings rounded as in Matching's file "
        "(7 then 6 significant digits).",
        _lalonde_nsw,
    ),
    "lalonde_cps1": _Dataset(
        "The 185 NSW treated men and 15,992 CPS-1 controls from the Current Population Survey "
        "(Ding's cps1re74; treated rows first).",
        "Dehejia & Wahba (1999); Ding (2024), A First Course in Causal Inference, ch. 1 (Problem 1.3) and ch. 10. "
        "Built by datasets/build_lalonde.py from causaldata.nsw_mixtape and causaldata.cps_mixtape, earnings "
        "rounded as in Ding's file (NSW treated: 7 significant digits; CPS-1 controls: 3 significant digits).",
        _lalonde_cps1,
    ),
    "card": _Dataset(
        "Log hourly wage in 1976, schooling and proximity to a four-year college (`nearc4`, the instrument) "
        "of 3,010 men of the NLS Young Men cohort; `married` is missing for 7 men (kept as <NA>).",
        "Card (1995), Using geographic variation in college proximity to estimate the return to schooling; "
        "built by datasets/build_card.py from causaldata.close_college (lwage stored as float32, written as "
        "its shortest decimal form).",
        _card,
    ),
    "framing": _Dataset(
        "A survey experiment on news stories about immigration, 265 subjects: the story's tone and the "
        "immigrant's ethnicity randomized (`treat` = negative tone and a Latino immigrant), the subject's "
        "emotional response `emo` (the mediator of R's mediation vignette) and whether they asked to send an "
        "anti-immigration message to Congress (`cong_mesg`).",
        "Brader, Valentino & Suhay (2008), American Journal of Political Science 52:959-978; R package "
        "mediation's `framing` (GPL >= 2), as copied into statsmodels' tests (BSD-3-Clause); built by "
        "datasets/build_framing.py, which drops R's row names and changes nothing else.",
        _framing,
    ),
    "lipids_chd": _Dataset(
        "Summary statistics of 28 uncorrelated genetic variants (one row each): associations (beta, SE) with LDL "
        "cholesterol, HDL cholesterol, triglycerides (standard deviations per allele) and coronary heart disease "
        "(log odds ratio per allele), for two-sample Mendelian randomization.",
        "Waterworth et al. (2010), Genetic variants influencing circulating lipid levels and risk of coronary "
        "artery disease, Arterioscler Thromb Vasc Biol 30:2264-2276; the values as shipped in the R package "
        "MendelianRandomization (ldlc, ldlcse, hdlc, ..., chdlodds, chdloddsse; Yavorska & Burgess 2017).",
        _lipids_chd,
    ),
    "time_varying": _Dataset(
        "A simulated study of 2,000 subjects (one row each): treatments a0, a1 at two times, confounders l0 "
        "(before a0) and l1 (after a0, before a1; affected by a0 and by an unmeasured U that also affects y), "
        "outcome y. Truth: E[Y^(a0, a1)] = 2 + a0 + 1.5 a1 (always vs never treated: 2.5).",
        "Simulated by datasets/build_time_varying.py (seed 20001), after the time-varying confounding of "
        "Robins, Hernan & Brumback (2000), Epidemiology 11:550-560.",
        _time_varying,
    ),
    "shakespeare_unigram": _Dataset(
        "Character counts of tiny Shakespeare (1,115,394 characters; vocabulary of 65 sorted distinct characters).",
        "Karpathy's tinyshakespeare.txt (char-rnn, nanoGPT's shakespeare_char), counted by datasets/build_bigram.py.",
        _shakespeare_unigram,
    ),
    "shakespeare_bigram": _Dataset(
        "Counts of consecutive character pairs of tiny Shakespeare, all 65 x 65 pairs (zeros included).",
        "Karpathy's tinyshakespeare.txt (char-rnn, nanoGPT's shakespeare_char), counted by datasets/build_bigram.py.",
        _shakespeare_bigram,
    ),
}


def available() -> list[str]:
    """Names of the bundled data sets, for :func:`load` and :func:`describe`."""
    return list(_DATASETS)


def _check_name(name: str) -> _Dataset:
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a string, one of {available()}, got {type(name).__name__}")
    if name not in _DATASETS:
        raise ValueError(f"`name` must be one of the bundled data sets {available()}, got {name!r}")
    return _DATASETS[name]


def describe(name: str) -> str:
    """What data set ``name`` holds, its source, and its columns with their dtypes (see :func:`load`)."""
    info = _check_name(name)
    columns = ", ".join(f"{col} ({dtype})" for col, dtype in info.reader().dtypes.items())
    return f"{name}: {info.description}\nSource: {info.source}\nColumns: {columns}"


def load(name: str) -> pd.DataFrame:
    """Load a bundled data set as a :class:`pandas.DataFrame` (a fresh copy on every call).

    Parameters
    ----------
    name : str
        One of :func:`available`.

    Returns
    -------
    pandas.DataFrame
        Columns and dtypes per data set:

        ``"kidney_stones"`` (700 rows, one per patient)
            ``stone_size`` (category ``"small"`` (< 2 cm), ``"large"``), ``treatment`` (int64: 1 open
            surgery, 0 percutaneous nephrolithotomy), ``success`` (int64 0/1). Table II of Charig et
            al. (1986): small stones 81/87 (open) vs 234/270 (PCNL), large 192/263 vs 55/80.
        ``"berkeley_admissions"`` (4,526 rows, one per applicant)
            ``department`` (category ``"A"``-``"F"``), ``female`` (int64 0/1), ``admitted`` (int64 0/1);
            the six largest departments of Bickel et al. (1975), R's ``UCBAdmissions``.
        ``"lalonde_nsw"`` (445 rows: 185 treated, 260 controls)
            ``age``, ``educ``, ``black``, ``hispan``, ``married``, ``nodegree``, ``re74``, ``re75``,
            ``re78``, ``u74``, ``u75``, ``treat``: R Matching's ``lalonde`` with Ding's column names.
            Earnings (float64, US dollars) as published; ``u74 = (re74 == 0)``, ``u75 = (re75 == 0)``.
        ``"lalonde_cps1"`` (16,177 rows: the 185 NSW treated first, then 15,992 CPS-1 controls)
            ``treat``, ``age``, ``educ``, ``black``, ``hispan``, ``married``, ``nodegree``, ``re74``,
            ``re75``, ``re78`` as in Ding's ``cps1re74.csv``, plus ``u74``, ``u75`` derived by the
            loader from ``re74 == 0``, ``re75 == 0``. The CPS-1 earnings are published at 3
            significant digits.
        ``"card"`` (3,010 rows, one per man)
            ``lwage`` (float64, log hourly wage 1976), ``educ``, ``nearc4`` (1 if a four-year college
            is in the county), ``exper``, ``black``, ``south``, ``smsa`` (int64), ``married``
            (Int64, a marital-status code 1-6 with 1 = married and 6 = never married, not a 0/1
            flag; ``<NA>`` for 7 men).
        ``"framing"`` (265 rows, one per subject)
            ``cond`` (int64 1-4, the four arms of ``tone`` x ``eth``), ``anx`` (ordered category, anxiety
            about immigration: ``"not anxious at all"`` to ``"very anxious"``), ``age``, ``income`` (int64,
            income bracket 1-19), ``educ`` (ordered category ``"less than high school"``, ``"high school"``,
            ``"some college"``, ``"bachelor's degree or higher"``), ``gender`` (category ``"male"``,
            ``"female"``), ``emo`` (int64 3-12, the emotional response to the story), ``p_harm`` (int64
            2-8, perceived harm of immigration), ``tone`` (1 negative), ``eth`` (1 Latino immigrant),
            ``treat`` (``tone * eth``), ``english`` (ordered category, opinion on making English the
            official language: ``"Strongly Oppose"`` to ``"Strongly Favor"``), ``immigr`` (int64 1-4,
            larger = more negative attitude to immigration), ``anti_info`` and ``cong_mesg`` (int64 0/1:
            wanted information from an anti-immigration group; asked to send an anti-immigration message
            to Congress). Encode the categories before a regression, e.g. with :func:`pandas.get_dummies`.
        ``"lipids_chd"`` (28 rows, one per genetic variant)
            ``variant`` (str, ``variant1`` ... ``variant28``: the package gives no rs numbers),
            ``effect_allele``, ``other_allele`` (str), ``eaf`` (effect-allele frequency), and per effect
            allele the associations (float64) ``ldlc``, ``hdlc``, ``trig`` (lipid fractions) and
            ``chd_log_odds`` (coronary heart disease, log odds ratio), each with its standard error
            ``<name>_se``.
        ``"time_varying"`` (2,000 rows, one per simulated subject)
            ``id`` (int64), ``l0`` (float64, confounder before the first treatment), ``a0`` (int64 0/1,
            first treatment), ``l1`` (float64, confounder after ``a0``, before the second treatment),
            ``a1`` (int64 0/1), ``y`` (float64 outcome). Made by ``datasets/build_time_varying.py``;
            the truth is :math:`E[Y^{a_0 a_1}] = 2 + a_0 + 1.5 a_1`.
        ``"shakespeare_unigram"`` (65 rows)
            ``token`` (int64), ``char`` (str), ``count`` (int64).
        ``"shakespeare_bigram"`` (4,225 rows)
            ``prev`` (int64), ``next`` (int64), ``count`` (int64): how often token ``next`` follows
            token ``prev``.

        The kidney-stone and Berkeley files ship as compact count tables
        (one row per cell with a ``count`` column); the loader expands them
        to one row per unit, in the order of the file's cells.

    Raises
    ------
    ValueError
        If ``name`` is not a bundled data set (the message lists them).

    References
    ----------
    Charig, C. R., Webb, D. R., Payne, S. R. and Wickham, J. E. (1986). Comparison of treatment of
    renal calculi by open surgery, percutaneous nephrolithotomy, and extracorporeal shockwave
    lithotripsy. BMJ 292, 879-882.

    Bickel, P. J., Hammel, E. A. and O'Connell, J. W. (1975). Sex bias in graduate admissions:
    data from Berkeley. Science 187, 398-404.

    LaLonde, R. J. (1986). Evaluating the econometric evaluations of training programs with
    experimental data. American Economic Review 76, 604-620.

    Dehejia, R. H. and Wahba, S. (1999). Causal effects in nonexperimental studies: reevaluating
    the evaluation of training programs. JASA 94, 1053-1062.

    Ding, P. (2024). A First Course in Causal Inference, ch. 1 and 10. CRC Press.

    Card, D. (1995). Using geographic variation in college proximity to estimate the return to
    schooling. In *Aspects of Labour Market Behaviour*, eds. Christofides, Grant and Swidinsky,
    201-222. University of Toronto Press.

    Brader, T., Valentino, N. A. and Suhay, E. (2008). What triggers public opposition to
    immigration? Anxiety, group cues, and immigration threat. American Journal of Political
    Science 52, 959-978.

    Waterworth, D. M., Ricketts, S. L., Song, K. et al. (2010). Genetic variants influencing
    circulating lipid levels and risk of coronary artery disease. Arteriosclerosis, Thrombosis, and
    Vascular Biology 30, 2264-2276.

    Examples
    --------
    >>> from causalattn import datasets
    >>> nsw = datasets.load("lalonde_nsw")
    >>> nsw["treat"].value_counts().sort_index().tolist()
    [260, 185]
    """
    return _check_name(name).reader()


def shakespeare_bigram_model() -> tuple[list[str], np.ndarray, np.ndarray]:
    r"""The unigram and bigram distributions of tiny Shakespeare's 65 characters.

    .. math::

        \pi_u(i) = \frac{n_i}{\sum_k n_k}, \qquad
        \pi_b(j \mid i) = \frac{n_{ij}}{\sum_k n_{ik}},

    with :math:`n_i` the count of character :math:`i` and :math:`n_{ij}` the
    number of times :math:`j` directly follows :math:`i` (every character is
    followed by something at least once, so each row is well defined).

    Returns
    -------
    chars : list of str
        The vocabulary; token ``i`` is ``chars[i]``.
    pi_u : numpy.ndarray, shape (65,)
        Unigram distribution.
    pi_b : numpy.ndarray, shape (65, 65)
        Row-stochastic bigram conditionals, ``pi_b[i, j] = P(next = j | prev = i)``.

    References
    ----------
    Bietti, A., Cabannes, V., Bouchacourt, D., Jegou, H. and Bottou, L. (2023). Birth of a
    Transformer: A Memory Viewpoint. NeurIPS; arXiv:2306.00802, section 3.

    Examples
    --------
    >>> from causalattn.datasets import shakespeare_bigram_model
    >>> chars, pi_u, pi_b = shakespeare_bigram_model()
    >>> len(chars), pi_b.shape
    (65, (65, 65))
    """
    unigram = load("shakespeare_unigram")
    bigram = load("shakespeare_bigram")
    v = len(unigram)
    counts = np.zeros((v, v))
    counts[bigram["prev"], bigram["next"]] = bigram["count"]
    pi_u = unigram["count"].to_numpy(dtype=float)
    return unigram["char"].tolist(), pi_u / pi_u.sum(), counts / counts.sum(axis=1, keepdims=True)
