"""causalattn: causal-inference statistics for classic data and for interventions on attention heads.

The statistics half (this namespace) imports without torch; the transformer
laboratory lives in :mod:`causalattn.lab` and needs torch.
"""

from causalattn.estimate import ConfidenceInterval, Estimate, EstimateTable

__version__ = "0.1.0"

__all__ = ["ConfidenceInterval", "Estimate", "EstimateTable"]
