"""Saving study results as they are made: atomic writes and a configuration fingerprint per folder.

A study folder holds ``study.json`` (what determines the results) and one file
per finished unit. Files are written to a temporary name and renamed over the
target, so a run killed mid-way never leaves half a file; a folder made under
another configuration is refused rather than mixed in.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FINGERPRINT", "load_arrays", "open_study_folder", "save_arrays", "slug", "write_atomic", "write_json_atomic"]

FINGERPRINT = "study.json"


def slug(label: str) -> str:
    """A file-name-safe version of a treatment or arm label (``ablate:L1H0:mean`` -> ``ablate_L1H0_mean``)."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label.replace("+", "__"))


def write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to a temporary file beside ``path``, then rename it over ``path``."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj: Any) -> None:
    """:func:`write_atomic` of ``obj`` as indented JSON."""
    write_atomic(path, json.dumps(obj, indent=1).encode())


def save_arrays(path: Path, arrays: dict[str, Any]) -> None:
    """:func:`write_atomic` of named numpy arrays as an ``.npz`` file."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())


def load_arrays(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays saved by :func:`save_arrays` at ``path``, or None if there is no such file."""
    if not path.exists():
        return None
    with np.load(path) as f:
        return {key: f[key] for key in f.files}


def open_study_folder(out_dir: Path, fingerprint: dict, units: str, kind: str) -> Path:
    """Create ``out_dir/units`` and record ``fingerprint``; refuse a folder made under another configuration.

    Returns the units folder. ``kind`` names the study in the error message.
    """
    path = out_dir / FINGERPRINT
    fingerprint = json.loads(json.dumps(fingerprint))  # as read back: tuples become lists
    if path.exists():
        stored = json.loads(path.read_text())
        if stored != fingerprint:
            differ = sorted(k for k in fingerprint.keys() | stored.keys() if stored.get(k) != fingerprint.get(k))
            raise ValueError(
                f"`out_dir` {str(out_dir)!r} holds {kind} with a different configuration (differs in {differ}); "
                "use another folder, or delete it to start over"
            )
    (out_dir / units).mkdir(parents=True, exist_ok=True)
    if not path.exists():
        write_json_atomic(path, fingerprint)
    return out_dir / units
