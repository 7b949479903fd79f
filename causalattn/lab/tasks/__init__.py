"""Tasks and outcomes: the sequences a model is evaluated on, and how each token is scored.

========================  ===================================================================
module                    contents
========================  ===================================================================
``bigram``                :class:`BigramTask`: the bigram task with triggers (Bietti et al. 2023, sec. 3)
``repeated``              :class:`RepeatedTokensTask`: repeated random tokens, the induction test
``prompts``               :class:`PromptSet`: the user's prompts with answers, distractors, counterfactuals
``metrics``               :func:`token_metrics` and :func:`evaluate`: per-token correctness and loss
========================  ===================================================================
"""
