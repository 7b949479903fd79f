"""Observational studies (Ding 2024, parts III-V): propensity scores, weighting, matching, AIPW, IV."""
from causalattn.observational.propensity import PropensityScore, Trimming, crump_threshold, propensity_score
from causalattn.observational.weighting import ipw
from causalattn.observational.outcome import outcome_regression
from causalattn.observational.doubly_robust import aipw
from causalattn.observational.matching import match
