"""Checksummed files: atomic writes, SHA-256 digests, and the two layouts (JSON, ``.npz``) a study saves.

Every file carries a SHA-256 checksum of its content (arrays: of their names,
dtypes, shapes and bytes; JSON: of its canonical text). A unit file also
carries, inside what the checksum covers, ``study`` (the checksum of the
``study.json`` it was made under) and its ``identity`` (which unit it holds,
as a small mapping). Files are written to a temporary name and renamed over
the target, so a run killed mid-way never leaves half a file.

A reader returns a :class:`CheckedFile`: the content, study and identity of
an intact file, or ``damage``, what is wrong with it (unreadable, truncated,
no checksum, a checksum that does not match). What a study does with a
damaged file (warn, recompute) is :mod:`causalattn.lab.studies.storage`'s job.

Examples
--------
>>> import tempfile
>>> path = Path(tempfile.mkdtemp()) / "unit.json"
>>> write_json(path, [1, 2], study="0" * 8, identity={"seed": 0})
>>> read_json(path)
CheckedFile(content=[1, 2], study='00000000', identity={'seed': 0}, damage=None)
>>> _ = path.write_text(path.read_text().replace('"seed": 0', '"seed": 1'))  # edited
>>> read_json(path).damage
'checksum mismatch: edited or corrupted'
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "CheckedFile",
    "DamagedFileWarning",
    "digest",
    "json_digest",
    "read_arrays",
    "read_json",
    "read_study_tag",
    "state_digest",
    "write_arrays",
    "write_atomic",
    "write_json",
    "write_json_atomic",
]

_CHECKSUM_KEY = "__sha256__"  # the member of an .npz file that holds the checksum of the others
_STUDY_KEY = "__study__"  # the member of a unit .npz file that holds the checksum of its study.json
_IDENTITY_KEY = "__identity__"  # the member of a unit .npz file that holds its identity, as JSON text
# the fields of the JSON files: study.json; unit files before they carried their identity, and since
_JSON_LAYOUTS = ({"sha256", "content"}, {"sha256", "study", "content"}, {"sha256", "study", "identity", "content"})


class DamagedFileWarning(UserWarning):
    """A cached file could not be read or failed its checksum; what it held is recomputed."""


class CheckedFile(NamedTuple):
    """What a reader found in a file: its content, study and identity if intact, else only ``damage``."""

    content: Any
    study: str | None
    identity: Any
    damage: str | None


def _damaged(reason: str) -> CheckedFile:
    return CheckedFile(None, None, None, reason)


def digest(arrays: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of named arrays: each name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        value = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def state_digest(model: Any) -> str:
    """SHA-256 (hex) of a torch module's weights, the :func:`digest` of its ``state_dict``: which model made a study."""
    return digest({name: tensor.detach().cpu().numpy() for name, tensor in model.state_dict().items()})


def json_digest(obj: Any) -> str:
    """SHA-256 (hex) of ``obj``'s canonical JSON text (keys sorted): the checksum of a JSON file's fields.

    Examples
    --------
    >>> json_digest({"b": 1, "a": [2]}) == json_digest({"a": [2], "b": 1})
    True
    """
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def write_atomic(path: Path, payload: bytes) -> None:
    """Write ``payload`` to a temporary file beside ``path``, then rename it over ``path``.

    The temporary file has a name of its own (``{name}.tmp-...``, unique across
    processes and threads), so two writers never share one; a failed write
    (a full disk, ``path`` being a folder) removes it and raises. A reader sees
    the old file or the new one, never half of one.
    """
    path = Path(path)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.tmp-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(payload)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: Path, obj: Any) -> None:
    """:func:`write_atomic` of ``obj`` as indented JSON."""
    write_atomic(path, json.dumps(obj, indent=1).encode())


def write_json(path: Path, content: Any, study: str | None = None, identity: dict | None = None) -> None:
    """``{"sha256", "study", "identity", "content"}``, the checksum of the others; without ``study``, only
    ``{"sha256", "content"}`` (the layout of ``study.json``)."""
    if study is None:
        write_json_atomic(path, {"sha256": json_digest(content), "content": content})
        return
    fields = {"study": study, "identity": identity, "content": content}
    write_json_atomic(path, {"sha256": json_digest(fields), **fields})


def read_json(path: Path) -> CheckedFile:
    """The :class:`CheckedFile` of a :func:`write_json` file (also of the layout units had before identities)."""
    try:
        wrapped = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        return _damaged(f"unreadable: {type(exc).__name__}")
    if not isinstance(wrapped, dict) or set(wrapped) not in _JSON_LAYOUTS:
        return _damaged("no checksum")
    fields = {key: value for key, value in wrapped.items() if key != "sha256"}
    if wrapped["sha256"] != json_digest(fields if "study" in fields else fields["content"]):
        return _damaged("checksum mismatch: edited or corrupted")
    return CheckedFile(fields["content"], fields.get("study"), fields.get("identity"), None)


def write_arrays(path: Path, arrays: Mapping[str, Any], study: str | None = None,
                 identity: dict | None = None) -> None:
    """Named arrays as an ``.npz`` file with their :func:`digest` (and ``study``, ``identity`` inside it)."""
    if study is not None:
        arrays = {**arrays, _STUDY_KEY: np.array(study), _IDENTITY_KEY: np.array(json.dumps(identity))}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays, **{_CHECKSUM_KEY: np.array(digest(arrays))})
    write_atomic(path, buffer.getvalue())


def read_arrays(path: Path) -> CheckedFile:
    """The :class:`CheckedFile` of a :func:`write_arrays` file, its content a dict of arrays."""
    try:
        with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as f:  # no file left open on a bad zip
            arrays = {key: f[key] for key in f.files}
    except Exception as exc:  # zipfile, zlib, numpy format and OS errors alike mean the file is unusable
        return _damaged(f"unreadable: {type(exc).__name__}")
    stored = arrays.pop(_CHECKSUM_KEY, None)
    if stored is None or str(stored) != digest(arrays):
        return _damaged("no checksum" if stored is None else "checksum mismatch")
    study, identity = arrays.pop(_STUDY_KEY, None), arrays.pop(_IDENTITY_KEY, None)
    try:
        identity = None if identity is None else json.loads(str(identity))
    except ValueError:
        return _damaged("unreadable identity")
    return CheckedFile(arrays, None if study is None else str(study), identity, None)


def read_study_tag(path: Path) -> tuple[str | None, str | None]:
    """``(study, damage)`` of a unit file of either layout, chosen by suffix; ``damage`` None when it is intact."""
    if path.suffix == ".npz":
        found = read_arrays(path)
    elif path.suffix == ".json":
        found = read_json(path)
    else:
        return None, "not a unit file"
    return found.study, found.damage
