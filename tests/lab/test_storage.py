"""Study folders: checksummed unit files that say which configuration made them and which unit they hold, and a
repairable study.json."""

import hashlib
import json
import warnings

import numpy as np
import pytest

from causalattn.lab.studies import checksummed, storage
from causalattn.lab.studies.checksummed import DamagedFileWarning, digest, write_atomic
from causalattn.lab.studies.storage import StudyFolder, open_study_folder

CONFIG = {"study": "test", "n": 3, "sizes": [1, 2]}
OTHER = {**CONFIG, "n": 4}
A, B = {"unit": "a"}, {"unit": "b"}  # the identities of the fixture's two files


def _open(out, fingerprint=CONFIG):
    return open_study_folder(out, fingerprint, units="units", kind="a test study")


def _legacy_json(path, content):
    """A unit file as written before units carried their configuration: {"sha256", "content"}."""
    text = json.dumps(content, sort_keys=True).encode()
    path.write_text(json.dumps({"sha256": hashlib.sha256(text).hexdigest(), "content": content}))


def _legacy_arrays(path, arrays):
    np.savez(path, **arrays, __sha256__=np.array(digest(arrays)))


@pytest.fixture
def folder(tmp_path):
    """A folder with one JSON and one array unit of CONFIG."""
    opened = _open(tmp_path)
    opened.save_json("a.json", {"x": [1.5, 2.0]}, identity=A)
    opened.save_arrays("b.npz", {"y": np.arange(3)}, identity=B)
    return opened


def _damage(path, how):
    text = path.read_text()
    if how == "unparseable":
        path.write_text("{")
    elif how == "truncated":
        path.write_text(text[: len(text) // 2])
    elif how == "edited":  # valid JSON whose checksum no longer matches
        path.write_text(text.replace('"n": 3', '"n": 5'))
    elif how == "no checksum":
        path.write_text(json.dumps(CONFIG))
    elif how == "missing":
        path.unlink()
    elif how == "not a fingerprint":  # intact checksum, but no configuration in it
        text = json.dumps([1, 2]).encode()
        path.write_text(json.dumps({"sha256": hashlib.sha256(text).hexdigest(), "content": [1, 2]}))


def test_units_carry_the_checksum_of_their_study_json(folder, tmp_path):
    study_json = json.loads((tmp_path / "study.json").read_text())
    # the tag is the SHA-256 of the canonical JSON text of the fingerprint, the checksum of study.json
    expected = hashlib.sha256(json.dumps(CONFIG, sort_keys=True).encode()).hexdigest()
    assert folder == StudyFolder(tmp_path / "units", expected) and study_json["sha256"] == expected
    assert json.loads((tmp_path / "units" / "a.json").read_text())["study"] == expected
    with np.load(tmp_path / "units" / "b.npz") as f:
        assert str(f["__study__"]) == expected
    assert json.loads((tmp_path / "units" / "a.json").read_text())["identity"] == A
    assert folder.load_json("a.json", identity=A) == {"x": [1.5, 2.0]}
    np.testing.assert_array_equal(folder.load_arrays("b.npz", identity=B)["y"], np.arange(3))
    assert set(folder.load_arrays("b.npz", identity=B)) == {"y"}
    assert folder.load_json("missing.json", identity=A) is None
    assert folder.load_arrays("missing.npz", identity=B) is None


@pytest.mark.parametrize("how", ["unparseable", "truncated", "edited", "no checksum", "missing", "not a fingerprint"])
def test_damaged_study_json_is_rewritten_and_verified_units_kept(folder, tmp_path, how):
    # before: any damaged study.json stopped the run ("nothing tells which configuration made the cached results")
    _damage(tmp_path / "study.json", how)
    with pytest.warns(DamagedFileWarning) as caught:
        reopened = _open(tmp_path)
    (message,) = [str(w.message) for w in caught]
    state = "missing" if how == "missing" else "damaged ("
    assert message.startswith(f"{tmp_path / 'study.json'} is {state}"), message
    assert "kept the 2 unit files" in message and "removed the 0 " in message
    assert reopened == folder
    assert reopened.load_json("a.json", identity=A) == {"x": [1.5, 2.0]}
    np.testing.assert_array_equal(reopened.load_arrays("b.npz", identity=B)["y"], np.arange(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rewritten: the next opening is silent
        assert _open(tmp_path) == folder


def test_damaged_study_json_removes_units_that_cannot_show_their_configuration(folder, tmp_path):
    _legacy_json(tmp_path / "units" / "old.json", {"x": 1})
    _legacy_arrays(tmp_path / "units" / "old.npz", {"y": np.zeros(2)})
    (tmp_path / "units" / "broken.npz").write_bytes(b"PK\x03\x04 not a zip")
    (tmp_path / "units" / "notes.txt").write_text("?")
    _damage(tmp_path / "study.json", "unparseable")
    with pytest.warns(DamagedFileWarning, match=r"kept the 2 unit files .* removed the 4 that cannot show"):
        reopened = _open(tmp_path)
    assert sorted(p.name for p in (tmp_path / "units").iterdir()) == ["a.json", "b.npz"]
    assert reopened.load_json("old.json", identity=A) is None
    assert reopened.load_json("a.json", identity=A) == {"x": [1.5, 2.0]}


def test_damaged_study_json_beside_units_of_another_configuration_is_an_error(tmp_path):
    other = _open(tmp_path, OTHER)
    other.save_json("a.json", {"x": 1}, identity=A)
    _legacy_json(tmp_path / "units" / "old.json", {"x": 1})
    _damage(tmp_path / "study.json", "truncated")
    with pytest.raises(ValueError, match=r"`out_dir` '.*' holds a test study made with a different configuration: its "
                                         r"study.json is damaged \(unreadable: JSONDecodeError\), and 1 unit files "
                                         r"\(e.g. .*a.json\) were made under another one"):
        _open(tmp_path)
    assert (tmp_path / "units" / "old.json").exists()  # nothing removed, study.json not rewritten
    assert (tmp_path / "study.json").read_text().count("{") == 1


def test_study_json_of_another_configuration_is_an_error(folder, tmp_path):
    with pytest.raises(ValueError, match=r"`out_dir` '.*' holds a test study made with a different configuration "
                                         r"\(differs in \['n'\]\); use another folder"):
        _open(tmp_path, OTHER)


def test_a_unit_of_another_configuration_in_an_intact_folder_is_recomputed(folder, tmp_path):
    elsewhere = _open(tmp_path / "elsewhere", OTHER)
    elsewhere.save_json("a.json", {"x": 7}, identity=A)
    elsewhere.save_arrays("b.npz", {"y": np.ones(3)}, identity=B)
    for name in ("a.json", "b.npz"):  # copied in by hand
        (tmp_path / "units" / name).write_bytes((tmp_path / "elsewhere" / "units" / name).read_bytes())
    with pytest.warns(DamagedFileWarning, match=r"a.json is damaged \(made under another configuration\); "
                                                r"recomputing unit a"):
        assert folder.load_json("a.json", identity=A, recompute="unit a") is None
    with pytest.warns(DamagedFileWarning, match=r"b.npz is damaged \(made under another configuration\)"):
        assert folder.load_arrays("b.npz", identity=B) is None


def _tagged_without_identity(folder, name, content):
    """A unit file as written after units carried their configuration, before they carried their identity."""
    path = folder.units / name
    if name.endswith(".npz"):
        arrays = {**content, "__study__": np.array(folder.study)}
        np.savez(path, **arrays, __sha256__=np.array(digest(arrays)))
    else:
        fields = {"study": folder.study, "content": content}
        text = json.dumps(fields, sort_keys=True).encode()
        path.write_text(json.dumps({"sha256": hashlib.sha256(text).hexdigest(), **fields}))


@pytest.mark.parametrize("legacy", [_legacy_json, _tagged_without_identity])
def test_units_without_an_identity_are_recomputed(folder, tmp_path, legacy):
    # before: a unit saved before the tags was trusted, though nothing showed which unit it held
    args = (tmp_path / "units" / "old.json",) if legacy is _legacy_json else (folder, "old.json")
    legacy(*args, {"x": 1})
    with pytest.warns(DamagedFileWarning, match=r"old.json is damaged \(it records no identity \(written by an "
                                                r"older version\): it cannot show which unit it holds\)"):
        assert folder.load_json("old.json", identity=A) is None
    _tagged_without_identity(folder, "old.npz", {"y": np.zeros(2)})
    with pytest.warns(DamagedFileWarning, match="old.npz is damaged .it records no identity"):
        assert folder.load_arrays("old.npz", identity=B) is None


def test_a_valid_file_copied_over_another_unit_is_recomputed(folder, tmp_path):
    # before (issue 18, item 3): a checksummed file of this configuration was accepted under any name
    folder.save_json("c.json", {"x": [9.0]}, identity={"unit": "c"})
    folder.save_arrays("d.npz", {"y": np.ones(3)}, identity={"unit": "d", "batch": 1})
    units = tmp_path / "units"
    (units / "c.json").write_bytes((units / "a.json").read_bytes())
    (units / "d.npz").write_bytes((units / "b.npz").read_bytes())  # same names and shapes: only the identity differs
    with pytest.warns(DamagedFileWarning, match=r"c.json is damaged \(it holds unit 'a', not unit 'c': copied or "
                                                r"moved from another file\); recomputing unit c"):
        assert folder.load_json("c.json", identity={"unit": "c"}, recompute="unit c") is None
    with pytest.warns(DamagedFileWarning, match=r"d.npz is damaged \(it holds unit 'b', not unit 'd', batch 1"):
        assert folder.load_arrays("d.npz", identity={"unit": "d", "batch": 1}) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the originals are intact; an identity reads back as JSON (tuples: lists)
        assert folder.load_json("a.json", identity={"unit": "a"}) == {"x": [1.5, 2.0]}
        folder.save_json("e.json", 1, identity={"runs": (1, 2)})
        assert folder.load_json("e.json", identity={"runs": [1, 2]}) == 1


def test_an_edited_identity_is_damage(folder, tmp_path):
    path = tmp_path / "units" / "a.json"
    wrapped = json.loads(path.read_text())
    wrapped["identity"] = {"unit": "z"}
    path.write_text(json.dumps(wrapped))
    with pytest.warns(DamagedFileWarning, match="checksum mismatch"):
        assert folder.load_json("a.json", identity={"unit": "z"}) is None


@pytest.mark.parametrize("identity", [None, {}, ["unit", "a"], "a"])
def test_an_identity_must_be_a_non_empty_mapping(folder, identity):
    with pytest.raises(TypeError, match="`identity` must be a non-empty mapping saying which unit a file holds"):
        folder.save_json("a.json", 1, identity=identity)
    with pytest.raises(TypeError, match="`identity` must be a non-empty mapping"):
        folder.load_arrays("b.npz", identity=identity)


def test_an_edited_study_tag_is_damage(folder, tmp_path):
    path = tmp_path / "units" / "a.json"
    wrapped = json.loads(path.read_text())
    wrapped["study"] = "0" * 64  # the checksum covers the tag
    path.write_text(json.dumps(wrapped))
    with pytest.warns(DamagedFileWarning, match="checksum mismatch"):
        assert folder.load_json("a.json", identity=A) is None


def test_a_folder_where_a_unit_file_belongs_is_an_error_and_leaves_no_temporary_file(folder, tmp_path):
    # before (issue 18, item 17): IsADirectoryError, and a .tmp file left behind
    (tmp_path / "units" / "c.json").mkdir()
    with pytest.raises(ValueError, match=r"`out_dir`: .*c.json is a folder where the study keeps a file \(unit c\); "
                                         "remove it or use another folder"):
        folder.load_json("c.json", identity={"unit": "c"}, recompute="unit c")
    with pytest.raises(ValueError, match=r"c.json is a folder where the study keeps a file \(unit 'c'\)"):
        folder.save_json("c.json", 1, identity={"unit": "c"})
    assert sorted(p.name for p in (tmp_path / "units").iterdir()) == ["a.json", "b.npz", "c.json"]


def test_a_folder_where_study_json_belongs_is_an_error(tmp_path):
    (tmp_path / "study.json").mkdir()
    with pytest.raises(ValueError, match=r"study.json is a folder where the study keeps a file \(the configuration"):
        _open(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.json", "units"]  # no .tmp file


@pytest.mark.parametrize("where", ["out_dir", "units", "parent"])
def test_a_file_where_a_folder_belongs_is_an_error(tmp_path, where):
    # before (issue 18, item 17): a raw NotADirectoryError or FileExistsError
    out = tmp_path / "out"
    if where == "out_dir":
        out.write_text("a file")
    elif where == "units":
        out.mkdir()
        (out / "units").write_text("a file")
    else:
        tmp_path.joinpath("file").write_text("a file")
        out = tmp_path / "file" / "out"
    blocker = {"out_dir": out, "units": out / "units", "parent": tmp_path / "file"}[where]
    with pytest.raises(ValueError, match=f"`out_dir`: cannot make the folder .* for the study's files: {blocker} is a "
                                         "file, not a folder; remove it or use another folder"):
        _open(out)


def _studies():
    """Each study that takes an `out_dir`, as a call of a tiny configuration."""
    from causalattn.lab import BigramTask, Freeze, ModelConfig, TaskConfig, TrainConfig, build_model
    from causalattn.lab.studies.evaluation import evaluation_study
    from causalattn.lab.studies.models_study import models_study
    from causalattn.lab.training.study import training_study

    task = BigramTask(TaskConfig(seq_len=16))
    models = [build_model(ModelConfig(d_model=16, max_seq_len=16, init_seed=s)) for s in range(2)]
    options = dict(n_sequences=4, n_resamples=9, progress=False)
    return {
        "evaluation_study": lambda out: evaluation_study(models[0], task, ["ablate:L1H0:zero"], out_dir=out, **options),
        "models_study": lambda out: models_study(models, task, ["ablate_role:induction@L1:zero"], out_dir=out,
                                                 **options),
        "training_study": lambda out: training_study(
            ModelConfig(d_model=16, max_seq_len=16), TaskConfig(seq_len=16), TrainConfig(n_iters=2, log_every=1),
            {"control": (), "frozen": (Freeze("W2_O", 1),)}, seeds=(0, 1), out_dir=out, progress=False),
    }


@pytest.mark.parametrize("study", ["evaluation_study", "models_study", "training_study"])
def test_every_out_dir_is_checked_before_any_work(tmp_path, study, monkeypatch):
    # before (issue 18, item 17): evaluation_study(out_dir=<a file>) gave a raw NotADirectoryError after the work
    # had begun; models_study ran every head scan first
    import causalattn.lab.studies.models_study as models_module

    monkeypatch.setattr(models_module, "head_scan", lambda *a, **k: pytest.fail("a head scan ran"))
    run = _studies()[study]
    a_file = tmp_path / "results.csv"
    a_file.write_text("x\n")
    for out in (a_file, a_file / "study"):
        with pytest.raises(ValueError, match=f"^`out_dir` '{out}' cannot be a folder: {a_file} is a file$"):
            run(out)
    with pytest.raises(TypeError, match="^`out_dir` must be a folder path .str or os.PathLike. or None, got int$"):
        run(3)
    with pytest.raises(ValueError, match=r"^`out_dir` is empty: give a folder path \('.' for the current folder\), "
                                         "or None for no folder$"):
        run("")  # before: the current folder, silently
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(folder, tmp_path):
    units = tmp_path / "units"
    (units / "c.json").mkdir()  # a unit file replaced by a folder: the rename fails
    with pytest.raises(OSError):
        write_atomic(units / "c.json", b"x")
    before = (units / "a.json").read_bytes()
    with pytest.raises(OSError):
        write_atomic(units / "a.json" / "deeper", b"x")  # cannot even create the temporary file
    assert (units / "a.json").read_bytes() == before
    assert not list(tmp_path.glob("**/*.tmp*"))  # before: `c.json.tmp-{pid}` stayed behind


def test_concurrent_writers_of_one_file_never_share_a_temporary_file(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "shared.bin"
    payloads = [bytes([i]) * 100_000 for i in range(8)]
    with ThreadPoolExecutor(4) as pool:  # before: one name per process, so threads wrote into one file
        list(pool.map(lambda payload: write_atomic(path, payload), payloads * 4))
    assert path.read_bytes() in payloads and not list(tmp_path.glob("*.tmp*"))


def test_the_file_format_names_stay_importable_from_storage():
    """Before the split into `checksummed` (the file format) and `storage` (study folders), all lived in storage."""
    for name in ("DamagedFileWarning", "digest", "state_digest", "write_atomic", "write_json_atomic"):
        assert getattr(storage, name) is getattr(checksummed, name)
        assert name in storage.__all__
