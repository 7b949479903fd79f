"""Study folders that resume: a configuration fingerprint, one checksummed file per finished unit.

A study folder holds ``study.json`` (what determines the results: the
configuration's fingerprint) and a folder of units, one file per finished unit,
written through the :class:`StudyFolder` that :func:`open_study_folder` returns;
a folder made under another configuration is refused rather than mixed in. The
files themselves (atomic writes, SHA-256 checksums, the JSON and ``.npz``
layouts) are :mod:`causalattn.lab.studies.checksummed`'s.

Every unit file carries, inside what its checksum covers, the checksum of the
``study.json`` it was made under (which configuration made it) and its
*identity*: which unit it holds (an arm and a batch, a seed and an arm...). The
loader asks for a file by name and identity, so a valid file copied or moved
over another one's name is found out. A unit file that is truncated,
bit-flipped, edited, made under another configuration, holding another unit, or
recording no identity (written by an older version) fails the check on loading:
a :class:`DamagedFileWarning` names the file and what will be recomputed, and
the loader returns ``None`` so that only that unit is recomputed; so is a unit
whose content the study cannot read (another version's fields). A damaged or
missing ``study.json`` is rewritten from the current configuration; the unit
files that carry its checksum are kept, those that cannot show it (damaged, or
saved before units carried it) are removed and recomputed, and a unit of
another configuration makes the folder an error. A folder where a file
belongs, or a file where a folder belongs, is a ValueError naming ``out_dir``,
before any work.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from causalattn.lab.studies.checksummed import (
    DamagedFileWarning,
    digest,
    json_digest,
    read_arrays,
    read_json,
    read_study_tag,
    state_digest,
    write_arrays,
    write_atomic,
    write_json,
    write_json_atomic,
)

# DamagedFileWarning, digest, state_digest, write_atomic and write_json_atomic live in `checksummed`; they are
# importable from here too, as before the split.
__all__ = [
    "FINGERPRINT",
    "DamagedFileWarning",
    "StudyFolder",
    "check_file_names",
    "check_file_place",
    "check_folder",
    "check_out_dir",
    "check_study_folder",
    "digest",
    "expect_shapes",
    "open_study_folder",
    "slug",
    "state_digest",
    "write_atomic",
    "write_json_atomic",
]

FINGERPRINT = "study.json"


def _report_damage(path: Path, reason: str, recompute: str) -> None:
    warnings.warn(f"{path} is damaged ({reason}); recomputing {recompute}", DamagedFileWarning, stacklevel=4)


def _as_identity(identity: Any) -> dict:
    """``identity`` as it reads back from a file (tuples become lists); a TypeError unless a non-empty mapping."""
    if not isinstance(identity, Mapping) or not identity:
        raise TypeError(f"`identity` must be a non-empty mapping saying which unit a file holds, got {identity!r}")
    return json.loads(json.dumps(dict(identity)))


def _describe(identity: Mapping) -> str:
    """``{"arm": "control", "batch": 0}`` -> ``arm 'control', batch 0``."""
    return ", ".join(f"{key} {value!r}" for key, value in identity.items())


def check_folder(path: Path, what: str) -> Path:
    """Create the folder ``path`` (and its parents); a ValueError naming `out_dir` if it cannot be one.

    ``what`` says what the folder holds, for the message. A file (or a file
    among its parents) in its place, or a folder that cannot be created, is
    refused with a message rather than an OS error.

    Examples
    --------
    >>> import tempfile
    >>> taken = Path(tempfile.mkdtemp()) / "taken"
    >>> _ = taken.write_text("a file")
    >>> check_folder(taken / "units", "the units")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `out_dir`: cannot make the folder .../taken/units for the units: .../taken is a file, not a folder...
    """
    for place in (path, *path.parents):
        if place.exists():
            if not place.is_dir():
                raise ValueError(f"`out_dir`: cannot make the folder {path} for {what}: {place} is a file, not a "
                                 "folder; remove it or use another folder")
            break
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"`out_dir`: cannot make the folder {path} for {what}: {exc.strerror or exc}") from None
    return path


def check_out_dir(out_dir: Any) -> Path | None:
    """``out_dir`` as a Path (None stays None), checked before any work; nothing is created.

    A TypeError unless a path; a ValueError naming `out_dir` if it, or a
    folder it would be made in, is a file.

    Examples
    --------
    >>> check_out_dir(3.5)
    Traceback (most recent call last):
    ...
    TypeError: `out_dir` must be a folder path (str or os.PathLike) or None, got float
    """
    if out_dir is None:
        return None
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"`out_dir` must be a folder path (str or os.PathLike) or None, got {type(out_dir).__name__}")
    if not str(out_dir).strip():
        raise ValueError("`out_dir` is empty: give a folder path ('.' for the current folder), or None for no folder")
    path = Path(out_dir)
    for place in (path, *path.parents):
        if place.exists():
            if not place.is_dir():
                raise ValueError(f"`out_dir` {str(path)!r} cannot be a folder: {place} is a file")
            break
    return path


def check_file_place(path: Path, what: str) -> None:
    """A ValueError naming `out_dir` when a folder stands where the study keeps the file ``path`` (``what``)."""
    if path.is_dir():
        raise ValueError(f"`out_dir`: {path} is a folder where the study keeps a file ({what}); remove it or use "
                         "another folder")


def slug(label: str) -> str:
    """A file-name-safe version of a treatment or arm label (``ablate:L1H0:mean`` -> ``ablate_L1H0_mean``)."""
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", label.replace("+", "__"))


def check_file_names(argument: str, labels: Sequence[str], what: str = "labels") -> None:
    """A ValueError naming ``argument`` if two of ``labels`` share a :func:`slug` (and so would share a file).

    Examples
    --------
    >>> check_file_names("arms", ["control", "a:b", "a/b"])
    Traceback (most recent call last):
    ...
    ValueError: `arms`: labels must be distinct as file names, but 'a:b' and 'a/b' both become 'a_b'
    """
    seen: dict[str, str] = {}
    for label in labels:
        name = slug(label)
        if name in seen:
            raise ValueError(f"`{argument}`: {what} must be distinct as file names, but {seen[name]!r} and "
                             f"{label!r} both become {name!r}")
        seen[name] = label


def expect_shapes(shapes: Mapping[str, tuple[int, ...]]) -> Callable[[Mapping[str, np.ndarray]], Any]:
    """A ``parse`` for :meth:`StudyFolder.load_arrays`: the arrays if they have exactly these names and shapes.

    Else a ValueError says which are missing, unexpected or of another shape.

    Examples
    --------
    >>> expect_shapes({"x": (2,)})({"x": np.zeros(2)})
    {'x': array([0., 0.])}
    >>> expect_shapes({"x": (2,), "y": (2,)})({"x": np.zeros(3), "z": np.zeros(2)})
    Traceback (most recent call last):
    ...
    ValueError: missing ['y']; unexpected ['z']; x of shape (3,) instead of (2,)
    """
    expected = {name: tuple(shape) for name, shape in shapes.items()}

    def parse(arrays: Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
        problems = [f"{kind} {names}" for kind, names in (("missing", sorted(expected.keys() - arrays.keys())),
                                                           ("unexpected", sorted(arrays.keys() - expected.keys())))
                    if names]
        problems += [f"{name} of shape {arrays[name].shape} instead of {shape}" for name, shape in expected.items()
                     if name in arrays and arrays[name].shape != shape]
        if problems:
            raise ValueError("; ".join(problems))
        return arrays

    return parse


@dataclass(frozen=True)
class StudyFolder:
    """The units folder of a study opened by :func:`open_study_folder`; unit files are saved and loaded by name.

    Every unit saved carries ``study``, the SHA-256 of the folder's
    ``study.json``, so that it says which configuration made it, and its
    ``identity``, a small mapping saying which unit it holds (``{"arm":
    "control", "batch": 0}``), both inside what its checksum covers. Loading
    asks for a name and an identity and gives None, with a
    :class:`DamagedFileWarning` naming the file and what is recomputed
    (``recompute``), for a file that is unreadable, fails its checksum, was
    made under another configuration, holds another unit (a file copied or
    moved over this one) or records no identity; a missing file gives None.

    Attributes
    ----------
    units : Path
        The folder of unit files.
    study : str
        The SHA-256 (hex) of the configuration's fingerprint (``study.json``).

    Examples
    --------
    >>> import tempfile, warnings
    >>> folder = StudyFolder(Path(tempfile.mkdtemp()), "0" * 64)
    >>> folder.save_json("seed0.json", [1, 2], identity={"seed": 0})
    >>> folder.load_json("seed0.json", identity={"seed": 0})
    [1, 2]
    >>> _ = (folder.units / "seed1.json").write_bytes((folder.units / "seed0.json").read_bytes())  # a copy
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     print(folder.load_json("seed1.json", identity={"seed": 1}, recompute="seed 1"))
    None
    >>> print(str(caught[0].message).split("/")[-1])
    seed1.json is damaged (it holds seed 0, not seed 1: copied or moved from another file); recomputing seed 1
    """

    units: Path
    study: str

    def create(self) -> StudyFolder:
        """Make the folder (and its parents) if need be, refusing a file in its place (:func:`check_folder`)."""
        check_folder(self.units, "the study's files")
        return self

    def save_arrays(self, name: str, arrays: Mapping[str, Any], *, identity: Mapping[str, Any]) -> None:
        """Save named arrays as the ``.npz`` file ``name``, atomically, with their :func:`digest` and ``identity``."""
        identity = _as_identity(identity)
        path = self.units / name
        check_file_place(path, _describe(identity))
        write_arrays(path, arrays, self.study, identity)

    def load_arrays(self, name: str, *, identity: Mapping[str, Any], recompute: str = "it",
                    parse: Callable[[Any], Any] | None = None) -> Any:
        """The arrays saved by :meth:`save_arrays` as ``name`` with ``identity`` (through ``parse``), or None."""
        return self._load(name, identity, read_arrays, recompute, parse)

    def save_json(self, name: str, obj: Any, *, identity: Mapping[str, Any]) -> None:
        """Save ``obj`` as the JSON file ``name``, atomically: ``{"sha256", "study", "identity", "content": obj}``."""
        identity = _as_identity(identity)
        path = self.units / name
        check_file_place(path, _describe(identity))
        write_json(path, obj, self.study, identity)

    def load_json(self, name: str, *, identity: Mapping[str, Any], recompute: str = "it",
                  parse: Callable[[Any], Any] | None = None) -> Any:
        """The object saved by :meth:`save_json` as ``name`` with ``identity``, or None.

        ``parse(content)``, if given, reads the content into what the caller
        uses (or checks it and returns it). A file it cannot read, one written
        by another version with other or missing fields, is damaged: a
        LookupError, TypeError, ValueError or AttributeError of ``parse`` is
        reported as such and gives None, so that only that unit is recomputed.
        """
        return self._load(name, identity, read_json, recompute, parse)

    def _load(self, name: str, identity: Mapping[str, Any], read: Callable[[Path], tuple], recompute: str,
              parse: Callable[[Any], Any] | None) -> Any:
        wanted = _as_identity(identity)
        path = self.units / name
        check_file_place(path, recompute)
        if not path.exists():
            return None
        content, study, found, damage = read(path)
        if damage is None and found is None:  # saved before units carried their identity
            damage = "it records no identity (written by an older version): it cannot show which unit it holds"
        if damage is None and study != self.study:
            damage = "made under another configuration"
        if damage is None and found != wanted:
            shown = _describe(found) if isinstance(found, dict) else repr(found)
            damage = f"it holds {shown}, not {_describe(wanted)}: copied or moved from another file"
        if damage is None and parse is not None:
            try:
                content = parse(content)
            except (LookupError, TypeError, ValueError, AttributeError) as exc:
                damage = f"unexpected content, {type(exc).__name__}: {exc}"
        if damage:
            _report_damage(path, damage, recompute)
            return None
        return content


def open_study_folder(out_dir: Path, fingerprint: dict, units: str, kind: str,
                      explain: Mapping[str, str] | None = None) -> StudyFolder:
    """Create ``out_dir/units`` and record ``fingerprint``; refuse a folder made under another configuration.

    ``kind`` names the study in the error message; ``explain`` maps a
    fingerprint key to what a difference in it means (the message then says so
    instead of blaming "a different configuration").

    A damaged ``study.json`` (unreadable, truncated, failing its checksum), or
    a missing one beside unit files, is reported with a
    :class:`DamagedFileWarning` and rewritten from ``fingerprint``: the unit
    files that carry this configuration's checksum are kept, those that cannot
    show it are removed (so they are recomputed), and a unit file made under
    another configuration is a ValueError, as a ``study.json`` of another
    configuration is.

    Examples
    --------
    >>> import tempfile, warnings
    >>> out = Path(tempfile.mkdtemp())
    >>> folder = open_study_folder(out, {"n": 3}, units="units", kind="a study")
    >>> folder.save_json("unit0.json", [1, 2, 3], identity={"unit": 0})
    >>> folder.load_json("unit0.json", identity={"unit": 0})
    [1, 2, 3]
    >>> _ = (out / "study.json").write_text("{")  # damaged: the unit still shows it was made with n = 3
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     folder = open_study_folder(out, {"n": 3}, units="units", kind="a study")
    >>> folder.load_json("unit0.json", identity={"unit": 0}), len(caught)
    ([1, 2, 3], 1)
    >>> open_study_folder(out, {"n": 4}, units="units", kind="a study")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `out_dir` '...' holds a study made with a different configuration (differs in ['n']); ...
    """
    path = out_dir / FINGERPRINT
    fingerprint = json.loads(json.dumps(fingerprint))  # as read back: tuples become lists
    folder = StudyFolder(out_dir / units, json_digest(fingerprint))
    folder.create()  # and out_dir: a file in the place of either is an error naming `out_dir`
    damage = check_study_folder(out_dir, fingerprint, kind, explain)
    if damage is not None:
        _repair(path, damage, folder, kind)
        write_json(path, fingerprint)
    return folder


def check_study_folder(out_dir: Path, fingerprint: dict, kind: str,
                       explain: Mapping[str, str] | None = None) -> str | None:
    """The check of :func:`open_study_folder` that writes nothing: a ValueError if ``out_dir`` holds another study.

    Returns None when ``out_dir/study.json`` records ``fingerprint``, else
    what is wrong with it (``"missing"``, or the damage that
    :func:`open_study_folder` will repair); raises the same ValueError as
    :func:`open_study_folder` when it records another configuration, or when
    a folder stands where ``study.json`` belongs. A command that loads a model
    first can so refuse a mismatched folder before the load, and create
    nothing until every check has passed.
    """
    path = Path(out_dir) / FINGERPRINT
    fingerprint = json.loads(json.dumps(fingerprint))
    check_file_place(path, "the configuration's fingerprint")
    stored, _, _, damage = read_json(path) if path.exists() else (None, None, None, "missing")
    if damage is None and not isinstance(stored, dict):
        damage = "not a study fingerprint"
    if damage is None and stored != fingerprint:
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
    return damage


def _repair(path: Path, damage: str, folder: StudyFolder, kind: str) -> None:
    """Keep the unit files that show ``folder.study``, remove those that cannot; refuse another configuration's."""
    files = sorted(p for p in folder.units.iterdir() if p.is_file()) if folder.units.is_dir() else []
    if not files:
        return
    state = "missing" if damage == "missing" else f"damaged ({damage})"
    shown = {p: read_study_tag(p) for p in files}
    foreign = [p for p, (study, problem) in shown.items() if problem is None and study not in (None, folder.study)]
    if foreign:
        raise ValueError(
            f"`out_dir` {str(path.parent)!r} holds {kind} made with a different configuration: its {FINGERPRINT} "
            f"is {state}, and {len(foreign)} unit files (e.g. {foreign[0]}) were made under another one; "
            "use another folder, or delete it to start over"
        )
    unverified = [p for p, (study, _) in shown.items() if study is None]
    for p in unverified:
        p.unlink()
    warnings.warn(
        f"{path} is {state}; rewriting it from the current configuration: kept the {len(files) - len(unverified)} "
        f"unit files in {folder.units} that carry its checksum, removed the {len(unverified)} that cannot show "
        "which configuration made them (recomputing them)",
        DamagedFileWarning, stacklevel=3,
    )
