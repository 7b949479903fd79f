"""causalattn: causal-inference statistics for classic data and for interventions on attention heads.

The statistics half (this namespace) imports without torch; the transformer
laboratory lives in :mod:`causalattn.lab` and needs torch.
"""

from causalattn import datasets, longitudinal, observational
from causalattn._pvalues import format_pvalue, pvalue_equation, rejects
from causalattn.effects import clustered_effect, paired_effect, two_arm_effect
from causalattn.estimate import ConfidenceInterval, Estimate, EstimateTable
from causalattn.experiments import designs
from causalattn.experiments.lasso import lasso_ate
from causalattn.experiments.matched_pairs import matched_pairs_adjusted
from causalattn.experiments.neyman import neyman
from causalattn.experiments.randomization import frt, frt_confidence_interval
from causalattn.experiments.rank_estimate import hodges_lehmann
from causalattn.hypothesis import HypothesisTest
from causalattn.longitudinal import TreatmentWeights, g_formula, msm, treatment_weights
from causalattn.mediation import (
    Decomposition,
    MediationSensitivity,
    baron_kenny,
    mediate,
    mediation_sensitivity,
    plot_decomposition,
)
from causalattn.multiple_testing import EFFECT_COLUMNS, adjust_pvalues, effects_frame
from causalattn.observational import (
    MendelianRandomization,
    aipw,
    balance,
    cace,
    double_selection,
    e_value,
    ipw,
    match,
    outcome_regression,
    propensity_score,
    subclassification,
    tsls,
)
from causalattn.plots import plot_forest
from causalattn.regression import FWLResult, ancova, correlation, fwl, lin, ols
from causalattn.tables.association import Table2x2
from causalattn.tables.paired import PairedTable
from causalattn.tables.simpson import SimpsonResult, simpson
from causalattn.tables.stratified import StratifiedTable

__version__ = "0.1.0"

__all__ = [
    # result types, p-values, multiple testing, plots
    "ConfidenceInterval", "Estimate", "EstimateTable", "HypothesisTest", "format_pvalue", "pvalue_equation", "rejects",
    "EFFECT_COLUMNS", "adjust_pvalues", "effects_frame", "plot_forest", "datasets",
    # the effect layer
    "clustered_effect", "paired_effect", "two_arm_effect",
    # tables
    "PairedTable", "SimpsonResult", "StratifiedTable", "Table2x2", "simpson",
    # regression
    "FWLResult", "ancova", "correlation", "fwl", "lin", "ols",
    # randomized experiments
    "designs", "frt", "frt_confidence_interval", "hodges_lehmann", "matched_pairs_adjusted", "neyman",
    # observational studies
    "observational", "aipw", "balance", "cace", "e_value", "ipw", "match", "outcome_regression",
    "propensity_score", "subclassification", "tsls",
    # Mendelian randomization, lasso adjustment
    "MendelianRandomization", "double_selection", "lasso_ate",
    # treatments over time
    "longitudinal", "TreatmentWeights", "g_formula", "msm", "treatment_weights",
    # mediation
    "Decomposition", "MediationSensitivity", "baron_kenny", "mediate", "mediation_sensitivity",
    "plot_decomposition",
]
