"""The models of the lab and what a study needs from them.

========================  ===================================================================
module                    contents
========================  ===================================================================
``contract``              :class:`HookedModel` (and :class:`Resumable`): what a study may ask of a model
``hooks``                 named hook points, :func:`hooks`, :func:`run_with_cache`, :func:`activations`
``transformer``           the simplified and vanilla transformers of Bietti et al. (2023)
``handset``               :func:`induction_head_model`: the two-layer model with hand-written memories
``fused``                 the simplified transformer's fused forward pass (no hook points)
``hf``                    :class:`HFModel`: a HuggingFace causal LM behind the contract (imports ``transformers``)
``pretrained``            :func:`load_pretrained`: GGUF files and checkpoint folders, offline
========================  ===================================================================

``hf`` and ``pretrained`` are not imported here: ``transformers`` loads only when it is used.
"""
