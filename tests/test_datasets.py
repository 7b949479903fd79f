"""Bundled data: contents against the published tables, LaLonde against Ding ch. 1, packaging into the wheel."""

import itertools
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from causalattn import datasets

REPO = Path(__file__).resolve().parent.parent
SHAKESPEARE = REPO.parent / "shared" / "data" / "tinyshakespeare.txt"
DATA_FILES = [
    "kidney_stones.csv",
    "berkeley_admissions.csv",
    "lalonde_nsw.csv",
    "lalonde_cps1.csv",
    "card.csv",
    "framing.csv",
    "shakespeare_unigram.csv",
    "shakespeare_bigram.csv",
]


def test_available_lists_every_name_and_each_loads():
    names = datasets.available()
    for required in ["kidney_stones", "berkeley_admissions", "lalonde_nsw", "lalonde_cps1", "card", "framing",
                     "shakespeare_unigram", "shakespeare_bigram"]:
        assert required in names
    for name in names:
        frame = datasets.load(name)
        assert isinstance(frame, pd.DataFrame) and len(frame) > 0
        assert name in datasets.describe(name)


def test_load_returns_a_fresh_copy():
    first = datasets.load("kidney_stones")
    first["success"] = 0
    assert datasets.load("kidney_stones")["success"].sum() == 81 + 234 + 192 + 55


def test_unknown_name_lists_the_available_ones():
    listed = r"`name` must be one of the bundled data sets \[.*'kidney_stones'.*'lalonde_cps1'.*\], got 'kidney'"
    with pytest.raises(ValueError, match=listed):
        datasets.load("kidney")
    with pytest.raises(ValueError, match="`name` must be one of the bundled data sets"):
        datasets.describe("nope")
    with pytest.raises(TypeError, match="`name` must be a string"):
        datasets.load(3)


def _successes_over_n(frame, stratum, treatment, outcome):
    grouped = frame.groupby([stratum, treatment], observed=True)[outcome].agg(["sum", "count"])
    return {key: (int(row["sum"]), int(row["count"])) for key, row in grouped.iterrows()}


def test_kidney_stones_matches_charig_1986_table_ii():
    df = datasets.load("kidney_stones")
    assert list(df.columns) == ["stone_size", "treatment", "success"]
    assert isinstance(df["stone_size"].dtype, pd.CategoricalDtype)
    assert list(df["stone_size"].cat.categories) == ["small", "large"]
    assert df["treatment"].dtype == np.int64 and df["success"].dtype == np.int64
    assert _successes_over_n(df, "stone_size", "treatment", "success") == {
        ("small", 1): (81, 87), ("small", 0): (234, 270), ("large", 1): (192, 263), ("large", 0): (55, 80),
    }
    marginal = df.groupby("treatment")["success"].agg(["sum", "count"])
    assert marginal.loc[1].tolist() == [273, 350] and marginal.loc[0].tolist() == [289, 350]


def test_berkeley_matches_bickel_1975():
    df = datasets.load("berkeley_admissions")
    assert list(df.columns) == ["department", "female", "admitted"]
    assert isinstance(df["department"].dtype, pd.CategoricalDtype)
    assert df["female"].dtype == np.int64 and df["admitted"].dtype == np.int64
    men = {"A": (512, 825), "B": (353, 560), "C": (120, 325), "D": (138, 417), "E": (53, 191), "F": (22, 373)}
    women = {"A": (89, 108), "B": (17, 25), "C": (202, 593), "D": (131, 375), "E": (94, 393), "F": (24, 341)}
    expected = {**{(d, 0): v for d, v in men.items()}, **{(d, 1): v for d, v in women.items()}}
    assert _successes_over_n(df, "department", "female", "admitted") == expected
    # the aggregate of UCBAdmissions: 1198 of 2691 men and 557 of 1835 women admitted
    totals = df.groupby("female")["admitted"].agg(["sum", "count"])
    assert totals.loc[0].tolist() == [1198, 2691] and totals.loc[1].tolist() == [557, 1835]


def test_lalonde_nsw_is_the_dehejia_wahba_subsample():
    df = datasets.load("lalonde_nsw")
    assert list(df.columns) == ["age", "educ", "black", "hispan", "married", "nodegree",
                                "re74", "re75", "re78", "u74", "u75", "treat"]
    assert df[["re74", "re75", "re78"]].dtypes.eq(np.float64).all()
    assert df.drop(columns=["re74", "re75", "re78"]).dtypes.eq(np.int64).all()
    assert df["treat"].value_counts().to_dict() == {0: 260, 1: 185}
    assert (df["u74"] == (df["re74"] == 0)).all() and (df["u75"] == (df["re75"] == 0)).all()
    # first row of Matching's lalonde: 37 11 1 0 1 1 0 0 9930.05 1 1 1
    assert df.iloc[0].tolist() == [37, 11, 1, 0, 1, 1, 0, 0, 9930.05, 1, 1, 1]
    treated, control = df.loc[df["treat"] == 1, "re78"], df.loc[df["treat"] == 0, "re78"]
    assert round(treated.mean() - control.mean(), 3) == 1794.343


def test_lalonde_cps1_reproduces_ding_chapter_1():
    df = datasets.load("lalonde_cps1")
    assert list(df.columns) == ["treat", "age", "educ", "black", "hispan", "married", "nodegree",
                                "re74", "re75", "re78", "u74", "u75"]
    assert df["treat"].value_counts().to_dict() == {0: 15992, 1: 185}
    assert (df["treat"].iloc[:185] == 1).all()
    # Ding's R: lm(re78 ~ ., data = dat) with u74, u75 added; classical standard errors
    full = smf.ols("re78 ~ treat + age + educ + black + hispan + married + nodegree + re74 + re75 + u74 + u75",
                   data=df).fit()
    assert round(full.params["treat"], 4) == 1067.5461
    assert round(full.bse["treat"], 4) == 554.0595
    simple = smf.ols("re78 ~ treat", data=df).fit()
    assert round(simple.params["treat"], 4) == -8506.4954
    assert round(simple.bse["treat"], 4) == 712.7664


def test_lalonde_treated_rows_agree_between_files():
    nsw = datasets.load("lalonde_nsw")
    cps1 = datasets.load("lalonde_cps1")
    covariates = ["age", "educ", "black", "hispan", "married", "nodegree"]
    nsw_treated = nsw.loc[nsw["treat"] == 1, covariates].reset_index(drop=True)
    pd.testing.assert_frame_equal(nsw_treated, cps1.loc[:184, covariates])
    # earnings: 7 significant digits in cps1, 7 then 6 in nsw, so they agree to 1 in 10^5 relative
    np.testing.assert_allclose(nsw.loc[nsw["treat"] == 1, "re78"].to_numpy(), cps1.loc[:184, "re78"], rtol=1e-5)


def test_card_keeps_its_missing_values_and_gives_the_published_iv_slope():
    df = datasets.load("card")
    assert list(df.columns) == ["lwage", "educ", "nearc4", "exper", "black", "south", "smsa", "married"]
    assert df.shape == (3010, 8) and int(df["nearc4"].sum()) == 2053
    assert str(df["married"].dtype) == "Int64" and int(df["married"].isna().sum()) == 7
    assert df.drop(columns="married").notna().all().all()
    assert df.iloc[0].tolist()[:7] == [6.306275, 7, 0, 16, 1, 0, 1]
    # Wald / simple IV slope cov(z, y) / cov(z, x) = 0.1881 (Wooldridge, Example 15.4's simple IV)
    z, x, y = df["nearc4"], df["educ"], df["lwage"]
    first_stage = x[z == 1].mean() - x[z == 0].mean()
    assert round(first_stage, 4) == 0.8290
    assert round((y[z == 1].mean() - y[z == 0].mean()) / first_stage, 4) == 0.1881


def test_framing_is_statsmodels_copy_of_r_mediation_framing():
    import statsmodels

    df = datasets.load("framing")
    assert df.shape == (265, 15)
    assert (df["treat"] == df["tone"] * df["eth"]).all()
    assert df.groupby(["tone", "eth"])["cond"].unique().map(list).tolist() == [[4], [3], [2], [1]]
    assert df["educ"].cat.categories[0] == "less than high school" and df["gender"].cat.categories[0] == "male"
    assert df.notna().all().all() and (df["emo"].between(3, 12)).all() and df["cong_mesg"].isin([0, 1]).all()
    assert int(df["treat"].sum()) == 68 and int(df["cong_mesg"].sum()) == 88
    source = Path(statsmodels.__file__).parent / "stats" / "tests" / "results" / "framing.csv"
    if source.exists():  # the build script's input: same values, R's row names dropped
        raw = pd.read_csv(source).iloc[:, 1:]
        for column in raw.columns:
            assert df[column].astype(raw[column].dtype).tolist() == raw[column].tolist(), column


def test_shakespeare_counts():
    unigram = datasets.load("shakespeare_unigram")
    bigram = datasets.load("shakespeare_bigram")
    assert list(unigram.columns) == ["token", "char", "count"] and len(unigram) == 65
    assert list(bigram.columns) == ["prev", "next", "count"] and len(bigram) == 65 * 65
    assert unigram.dtypes[["token", "count"]].eq(np.int64).all() and bigram.dtypes.eq(np.int64).all()
    assert unigram["count"].sum() == 1_115_394
    assert bigram["count"].sum() == 1_115_394 - 1
    assert unigram["char"].tolist() == sorted(unigram["char"])
    assert unigram["token"].tolist() == list(range(65))
    assert unigram.loc[0, "char"] == "\n" and unigram.loc[1, "char"] == " "
    # every character is followed by another as often as it occurs, except the text's last one ("\n")
    out_degree = bigram.groupby("prev")["count"].sum().to_numpy()
    expected = unigram["count"].to_numpy().copy()
    expected[0] -= 1
    np.testing.assert_array_equal(out_degree, expected)


@pytest.mark.skipif(not SHAKESPEARE.exists(), reason="the raw text is not shipped; it lives in ../shared/data")
def test_shakespeare_counts_match_the_raw_text():
    text = SHAKESPEARE.read_text(encoding="utf-8")
    unigram = datasets.load("shakespeare_unigram")
    bigram = datasets.load("shakespeare_bigram").set_index(["prev", "next"])["count"]
    chars = sorted(set(text))
    assert unigram["char"].tolist() == chars
    assert unigram["count"].tolist() == [text.count(c) for c in chars]
    for pair in ["th", "e ", "\nF", "qu"]:  # no pair of distinct characters overlaps itself
        assert bigram[(chars.index(pair[0]), chars.index(pair[1]))] == text.count(pair)
    assert bigram[(chars.index("e"), chars.index("e"))] == sum(a == b == "e" for a, b in itertools.pairwise(text))


def test_shakespeare_bigram_model_is_normalized():
    chars, pi_u, pi_b = datasets.shakespeare_bigram_model()
    assert len(chars) == 65 and pi_u.shape == (65,) and pi_b.shape == (65, 65)
    np.testing.assert_allclose(pi_u.sum(), 1.0)
    np.testing.assert_allclose(pi_b.sum(axis=1), np.ones(65))
    assert (pi_b >= 0).all()
    q = chars.index("q")
    assert chars[int(np.argmax(pi_b[q]))] == "u"
    assert chars[int(np.argmax(pi_u))] == " "


def test_data_files_are_inside_the_wheel(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(REPO)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("causalattn-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for filename in DATA_FILES:
            assert f"causalattn/_datasets/{filename}" in names
        assert "causalattn/_datasets/README.md" in names
        shipped = archive.read("causalattn/_datasets/kidney_stones.csv")
        assert shipped == (REPO / "datasets" / "kidney_stones.csv").read_bytes()
        archive.extractall(tmp_path / "site")
    # the loader finds the files inside the installed package, not in the repository
    probe = (
        "from causalattn import datasets\n"
        "print(datasets._data_dir())\n"
        "print(len(datasets.load('lalonde_cps1')), len(datasets.load('kidney_stones')))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path / "site", capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(tmp_path / "site")}, timeout=120)
    assert run.returncode == 0, run.stderr
    data_dir, counts = run.stdout.splitlines()
    assert Path(data_dir) == tmp_path / "site" / "causalattn" / "_datasets"
    assert counts == "16177 700"
