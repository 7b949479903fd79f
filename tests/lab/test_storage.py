"""Study folders: checksummed unit files that say which configuration made them, and a repairable study.json."""

import hashlib
import json
import warnings

import numpy as np
import pytest

from causalattn.lab.studies.storage import DamagedFileWarning, StudyFolder, digest, open_study_folder, write_atomic

CONFIG = {"study": "test", "n": 3, "sizes": [1, 2]}
OTHER = {**CONFIG, "n": 4}


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
    opened.save_json("a.json", {"x": [1.5, 2.0]})
    opened.save_arrays("b.npz", {"y": np.arange(3)})
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
    assert folder.load_json("a.json") == {"x": [1.5, 2.0]}
    np.testing.assert_array_equal(folder.load_arrays("b.npz")["y"], np.arange(3))
    assert set(folder.load_arrays("b.npz")) == {"y"}
    assert folder.load_json("missing.json") is None and folder.load_arrays("missing.npz") is None


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
    assert reopened.load_json("a.json") == {"x": [1.5, 2.0]}
    np.testing.assert_array_equal(reopened.load_arrays("b.npz")["y"], np.arange(3))
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
    assert reopened.load_json("old.json") is None and reopened.load_json("a.json") == {"x": [1.5, 2.0]}


def test_damaged_study_json_beside_units_of_another_configuration_is_an_error(tmp_path):
    other = _open(tmp_path, OTHER)
    other.save_json("a.json", {"x": 1})
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
    elsewhere.save_json("a.json", {"x": 7})
    elsewhere.save_arrays("b.npz", {"y": np.ones(3)})
    for name in ("a.json", "b.npz"):  # copied in by hand
        (tmp_path / "units" / name).write_bytes((tmp_path / "elsewhere" / "units" / name).read_bytes())
    with pytest.warns(DamagedFileWarning, match=r"a.json is damaged \(made under another configuration\); "
                                                r"recomputing unit a"):
        assert folder.load_json("a.json", recompute="unit a") is None
    with pytest.warns(DamagedFileWarning, match=r"b.npz is damaged \(made under another configuration\)"):
        assert folder.load_arrays("b.npz") is None


def test_units_saved_before_the_tag_still_load_from_an_intact_folder(folder, tmp_path):
    _legacy_json(tmp_path / "units" / "old.json", {"x": 1})
    _legacy_arrays(tmp_path / "units" / "old.npz", {"y": np.zeros(2)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert folder.load_json("old.json") == {"x": 1}
        np.testing.assert_array_equal(folder.load_arrays("old.npz")["y"], np.zeros(2))


def test_an_edited_study_tag_is_damage(folder, tmp_path):
    path = tmp_path / "units" / "a.json"
    wrapped = json.loads(path.read_text())
    wrapped["study"] = "0" * 64  # the checksum covers the tag
    path.write_text(json.dumps(wrapped))
    with pytest.warns(DamagedFileWarning, match="checksum mismatch"):
        assert folder.load_json("a.json") is None


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(folder, tmp_path):
    units = tmp_path / "units"
    (units / "c.json").mkdir()  # a unit file replaced by a folder: the rename fails
    with pytest.raises(OSError):
        folder.save_json("c.json", {"x": 1})
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
