"""Tasks and outcomes: the sequences a model is evaluated on, and how each token is scored.

========================  ===================================================================
module                    contents
========================  ===================================================================
``bigram``                :class:`BigramTask`: the bigram task with triggers (Bietti et al. 2023, sec. 3)
``repeated``              :class:`RepeatedTokensTask`: repeated random tokens, the induction test
``repeated_text``         :class:`RepeatedTextTask`: a passage of text, then the same passage again
``prompts``               :class:`PromptSet`: the user's prompts with answers, distractors, counterfactuals
``units``                 :func:`draw_units`: the units of a study (sequences or prompts) and references
``outcomes``              :class:`UnitOutcomes`: each unit's outcomes from the logits where they are read
``metrics``               :func:`token_metrics` and :func:`evaluate`: per-token correctness and loss
========================  ===================================================================
"""
