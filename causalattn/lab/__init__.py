"""The induction-head laboratory (needs torch): bigram data with triggers, transformers, training, probes.

Import it explicitly (``import causalattn.lab``); ``import causalattn`` never imports torch.
``HFModel`` and ``load_pretrained`` (pretrained HuggingFace models, :mod:`causalattn.lab.models.hf`
and :mod:`causalattn.lab.models.pretrained`)
import ``transformers`` on first use only (``pip install "causalattn[hf]"``).
"""

from causalattn.lab.analysis.attribution import Attribution, attribution_patching
from causalattn.lab.analysis.head_scan import HeadScan, head_scan
from causalattn.lab.analysis.probes import PROBE_KEYS, memory_probes, recall
from causalattn.lab.interventions import (
    Combined,
    HeadAblation,
    HeadPath,
    PatternFreeze,
    Reference,
    RoleAblation,
    RolePath,
    RolePattern,
    parse_treatment,
)
from causalattn.lab.models.contract import HookedModel, Resumable
from causalattn.lab.models.handset import induction_head_model
from causalattn.lab.models.hooks import HookPoint, activations, hook_points, hooks, run_with_cache
from causalattn.lab.models.transformer import ModelConfig, Transformer, build_model
from causalattn.lab.plots import plot_attention, plot_probes, plot_training_curves
from causalattn.lab.studies.decomposition import decompose, decomposition_treatments
from causalattn.lab.studies.evaluation import EvaluationStudy, evaluation_study
from causalattn.lab.studies.head_map import head_map
from causalattn.lab.studies.head_screen import HeadScreen, screen_heads
from causalattn.lab.studies.head_table import HeadMap
from causalattn.lab.studies.models_study import ModelsStudy, models_study
from causalattn.lab.studies.prompts import prompt_study
from causalattn.lab.tasks.bigram import Batch, BigramTask, TaskConfig
from causalattn.lab.tasks.metrics import TokenMetrics, evaluate, token_metrics
from causalattn.lab.tasks.prompts import PromptSet
from causalattn.lab.tasks.repeated import RepeatedTokensConfig, RepeatedTokensTask
from causalattn.lab.tasks.repeated_text import RepeatedTextConfig, RepeatedTextTask
from causalattn.lab.training.checkpoints import CheckpointInfo, load_checkpoint, save_checkpoint
from causalattn.lab.training.config import Freeze, TrainConfig
from causalattn.lab.training.loop import TrainResult, train
from causalattn.lab.training.study import TrainingStudy, training_study

_LAZY = {"HFModel": "causalattn.lab.models.hf", "load_pretrained": "causalattn.lab.models.pretrained"}


def __getattr__(name: str):
    """``HFModel`` and ``load_pretrained`` import transformers when first asked for."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'causalattn.lab' has no attribute {name!r}")


__all__ = [
    "head_map",
    "HeadMap",
    "screen_heads",
    "HeadScreen",
    "attribution_patching",
    "Attribution",
    "RepeatedTextConfig",
    "RepeatedTextTask",
    "HookedModel",
    "Resumable",
    "HFModel",
    "load_pretrained",
    "EvaluationStudy",
    "evaluation_study",
    "decompose",
    "decomposition_treatments",
    "ModelsStudy",
    "models_study",
    "RoleAblation",
    "RolePattern",
    "RolePath",
    "Combined",
    "HeadAblation",
    "HeadPath",
    "PatternFreeze",
    "Reference",
    "parse_treatment",
    "TaskConfig",
    "BigramTask",
    "Batch",
    "RepeatedTokensConfig",
    "RepeatedTokensTask",
    "HeadScan",
    "head_scan",
    "PromptSet",
    "prompt_study",
    "ModelConfig",
    "Transformer",
    "build_model",
    "HookPoint",
    "hook_points",
    "hooks",
    "run_with_cache",
    "activations",
    "TokenMetrics",
    "token_metrics",
    "evaluate",
    "PROBE_KEYS",
    "recall",
    "memory_probes",
    "induction_head_model",
    "plot_attention",
    "plot_training_curves",
    "plot_probes",
    "TrainConfig",
    "Freeze",
    "TrainResult",
    "CheckpointInfo",
    "train",
    "save_checkpoint",
    "load_checkpoint",
    "TrainingStudy",
    "training_study",
]
