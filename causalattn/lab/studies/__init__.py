"""Intervention studies: running the arms, on local processes or Dask, saved as they go.

========================  ===================================================================
module                    contents
========================  ===================================================================
``runner``                :func:`run_arms`: one clean forward pass, every intervention from its cache
``engine``                :func:`run_jobs`: independent jobs on local processes or a Dask cluster
``checksummed``           checksummed, atomic files: digests, the JSON and ``.npz`` layouts
``storage``               study folders that resume: a fingerprint, one checked file per unit
``evaluation``            :func:`evaluation_study`: sequences as units, matched pairs
``evaluation_results``    :class:`EvaluationStudy`: its outcomes, effects, token tables, heterogeneity
``models_study``          :func:`models_study`: trained models as clusters of sequences
``prompts``               :func:`prompt_study`: user prompts as units
``table``                 the effects table every study reports: one row per (treatment, outcome)
``head_runner``           :func:`run_heads`: many one-head interventions stacked, logits where read
``head_map``              :func:`head_map`: every head ablated one at a time, with error control
``head_table``            :class:`HeadMap`: effects, Holm/BH/BY p-values, discoveries, heatmap
``head_screen``           :func:`screen_heads`: attribution screen on one half, exact on the other
``decomposition``         :func:`decompose`: a head's total, direct, indirect effects, self-repair, paths
========================  ===================================================================
"""
