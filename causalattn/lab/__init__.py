"""The induction-head laboratory (needs torch): bigram data with triggers, transformers, training, probes.

Import it explicitly (``import causalattn.lab``); ``import causalattn`` never imports torch.
``HFModel`` and ``load_pretrained`` (pretrained HuggingFace models, :mod:`causalattn.lab.hf`)
import ``transformers`` on first use only (``pip install "causalattn[hf]"``).
"""

from causalattn.lab.contract import HookedModel, Resumable
from causalattn.lab.evaluation import EvaluationStudy, evaluation_study
from causalattn.lab.handset import induction_head_model
from causalattn.lab.head_scan import HeadScan, head_scan
from causalattn.lab.hooks import HookPoint, hook_points, hooks, run_with_cache
from causalattn.lab.interventions import Combined, HeadAblation, PatternFreeze, Reference, parse_treatment
from causalattn.lab.metrics import TokenMetrics, evaluate, token_metrics
from causalattn.lab.model import ModelConfig, Transformer, build_model
from causalattn.lab.models_study import ModelsStudy, models_study
from causalattn.lab.plots import plot_attention, plot_probes, plot_training_curves
from causalattn.lab.probes import PROBE_KEYS, memory_probes, recall
from causalattn.lab.prompts import PromptSet, prompt_study
from causalattn.lab.repeated import RepeatedTokensConfig, RepeatedTokensTask
from causalattn.lab.roles import RoleAblation, RolePattern
from causalattn.lab.task import Batch, BigramTask, TaskConfig
from causalattn.lab.training import (
    CheckpointInfo,
    Freeze,
    TrainConfig,
    TrainResult,
    load_checkpoint,
    save_checkpoint,
    train,
)
from causalattn.lab.seed_study import TrainingStudy, training_study

_LAZY = {"HFModel": "causalattn.lab.hf", "load_pretrained": "causalattn.lab.hf"}


def __getattr__(name: str):
    """``HFModel`` and ``load_pretrained`` import transformers when first asked for."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'causalattn.lab' has no attribute {name!r}")


__all__ = [
    "HookedModel",
    "Resumable",
    "HFModel",
    "load_pretrained",
    "EvaluationStudy",
    "evaluation_study",
    "ModelsStudy",
    "models_study",
    "RoleAblation",
    "RolePattern",
    "Combined",
    "HeadAblation",
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
