"""Intervention studies: running the arms, on local processes or Dask, saved as they go.

========================  ===================================================================
module                    contents
========================  ===================================================================
``runner``                :func:`run_arms`: one clean forward pass, every intervention from its cache
``engine``                :func:`run_jobs`: independent jobs on local processes or a Dask cluster
``storage``               checksummed, atomic study folders that resume
``evaluation``            :func:`evaluation_study`: sequences as units, matched pairs
``evaluation_results``    :class:`EvaluationStudy`: its outcomes, effects, token tables, heterogeneity
``models_study``          :func:`models_study`: trained models as clusters of sequences
``prompts``               :func:`prompt_study`: user prompts as units
``table``                 the effects table every study reports: one row per (treatment, outcome)
``decomposition``         :func:`decompose`: a head's total, direct, indirect effects, self-repair, paths
========================  ===================================================================
"""
