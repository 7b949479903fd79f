"""The induction-head laboratory (needs torch): bigram data with triggers, transformers, training, probes."""
