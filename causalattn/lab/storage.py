"""Saving study results as they are made: atomic writes, a checksum in every file, a configuration fingerprint.

A study folder holds ``study.json`` (what determines the results) and one file
per finished unit. Files are written to a temporary name and renamed over the
target, so a run killed mid-way never leaves half a file; a folder made under
another configuration is refused rather than mixed in.

Every file carries a SHA-256 checksum of its content (arrays: of their names,
dtypes, shapes and bytes; JSON: of its canonical text). A unit file that is
truncated, bit-flipped or edited fails the check on loading: a
:class:`DamagedFileWarning` names the file and what will be recomputed, and the
loader returns ``None`` so that only that unit is recomputed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FINGERPRINT",
    "DamagedFileWarning",
    "digest",
    "load_arrays",
    "load_json",
    "open_study_folder",
    "save_arrays",
    "save_json",
    "slug",
    "write_atomic",
    "write_json_atomic",
]

FINGERPRINT = "study.json"
_CHECKSUM_KEY = "__sha256__"  # the member of an .npz file that holds the checksum of the others


class DamagedFileWarning(UserWarning):
    """A cached file could not be read or failed its checksum; what it held is recomputed."""


def digest(arrays: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of named arrays: each name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def _json_digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _report_damage(path: Path, reason: str, recompute: str) -> None:
    warnings.warn(f"{path} is damaged ({reason}); recomputing {recompute}", DamagedFileWarning, stacklevel=3)


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
    """:func:`write_atomic` of named numpy arrays as an ``.npz`` file, with their :func:`digest`."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{_CHECKSUM_KEY: np.array(digest(arrays))})
    write_atomic(path, buffer.getvalue())


def load_arrays(path: Path, *, recompute: str = "it") -> dict[str, np.ndarray] | None:
    """The arrays saved by :func:`save_arrays` at ``path``; None if there is no such file or it is damaged.

    A damaged file (unreadable, truncated, or failing its checksum) gives a
    :class:`DamagedFileWarning` naming it and saying what is recomputed (``recompute``).
    """
    if not path.exists():
        return None
    try:
        with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as f:  # no file left open on a bad zip
            arrays = {key: f[key] for key in f.files}
    except Exception as exc:  # zipfile, zlib, numpy format and OS errors alike mean the file is unusable
        _report_damage(path, f"unreadable: {type(exc).__name__}", recompute)
        return None
    stored = arrays.pop(_CHECKSUM_KEY, None)
    if stored is None or str(stored) != digest(arrays):
        _report_damage(path, "no checksum" if stored is None else "checksum mismatch", recompute)
        return None
    return arrays


def save_json(path: Path, obj: Any) -> None:
    """:func:`write_atomic` of ``{"sha256": ..., "content": obj}`` as JSON (the checksum of ``obj``'s JSON text)."""
    write_json_atomic(path, {"sha256": _json_digest(obj), "content": obj})


def load_json(path: Path, *, recompute: str = "it") -> Any | None:
    """The object saved by :func:`save_json` at ``path``; None if there is no such file or it is damaged.

    A damaged file (not JSON, truncated, edited by hand) gives a
    :class:`DamagedFileWarning` naming it and saying what is recomputed (``recompute``).
    """
    if not path.exists():
        return None
    content, damage = _read_json(path)
    if damage:
        _report_damage(path, damage, recompute)
    return content


def _read_json(path: Path) -> tuple[Any | None, str | None]:
    """The content of a :func:`save_json` file and None, or None and what is wrong with the file."""
    try:
        wrapped = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        return None, f"unreadable: {type(exc).__name__}"
    if not isinstance(wrapped, dict) or set(wrapped) != {"sha256", "content"}:
        return None, "no checksum"
    if wrapped["sha256"] != _json_digest(wrapped["content"]):
        return None, "checksum mismatch: edited or corrupted"
    return wrapped["content"], None


def open_study_folder(out_dir: Path, fingerprint: dict, units: str, kind: str,
                      explain: Mapping[str, str] | None = None) -> Path:
    """Create ``out_dir/units`` and record ``fingerprint``; refuse a folder made under another configuration.

    Returns the units folder. ``kind`` names the study in the error message;
    ``explain`` maps a fingerprint key to what a difference in it means (the
    message then says so instead of blaming "a different configuration"). A
    damaged ``study.json`` is an error: without it nobody can tell which
    configuration made the cached units.
    """
    path = out_dir / FINGERPRINT
    fingerprint = json.loads(json.dumps(fingerprint))  # as read back: tuples become lists
    if path.exists():
        stored, damage = _read_json(path)
        if damage:
            raise ValueError(
                f"{path} is damaged ({damage}), so nothing tells which configuration made the cached results in "
                f"{out_dir}; use another folder, or delete this one to recompute them"
            )
        if stored != fingerprint:
            differ = sorted(k for k in fingerprint.keys() | stored.keys() if stored.get(k) != fingerprint.get(k))
            explain = explain or {}
            reasons = [f"{explain[k]} ({k} differs)" for k in differ if k in explain]
            unexplained = [k for k in differ if k not in explain]
            if unexplained:
                reasons.append(f"a different configuration (differs in {unexplained})")
            raise ValueError(
                f"`out_dir` {str(out_dir)!r} holds {kind} made with {' and '.join(reasons)}; "
                "use another folder, or delete it to start over"
            )
    (out_dir / units).mkdir(parents=True, exist_ok=True)
    if not path.exists():
        save_json(path, fingerprint)
    return out_dir / units
