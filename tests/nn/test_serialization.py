"""nn.save / nn.load: exact round trips, atomic writes, and refusal of pickles and broken files."""

import os
import pathlib
import zipfile

import numpy as np
import pytest

from autograd import Tensor
from nn import optim
from nn.serialization import load, save


def _assert_same(got, expected, where="obj"):
    """Equal values of identical types, recursively; arrays also of identical dtype and shape."""
    if isinstance(expected, Tensor):
        expected = expected.data  # Tensors are stored as their data
    assert type(got) is type(expected), f"{where}: {type(got).__name__} != {type(expected).__name__}"
    if isinstance(expected, dict):
        assert list(got) == list(expected), f"{where}: keys {list(got)} != {list(expected)}"
        for key in expected:
            _assert_same(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected)):
            _assert_same(g, e, f"{where}[{i}]")
    elif isinstance(expected, (np.ndarray, np.generic)):
        assert got.dtype == expected.dtype and got.shape == expected.shape, where
        np.testing.assert_array_equal(got, expected, err_msg=where)
    elif isinstance(expected, float) and np.isnan(expected):
        assert np.isnan(got), where
    else:
        assert got == expected, where


def _checkpoint():
    rng = np.random.default_rng(0)
    return {
        "model": {
            "0.weight": rng.standard_normal((4, 3)).astype(np.float32),
            "0.bias": Tensor(rng.standard_normal(4)),
            "1.running_var": np.ones(4, dtype=np.float16),
            "1.num_batches_tracked": np.array(7, dtype=np.int64),
            "mask": np.array([[True, False]]),
            "fortran": np.asfortranarray(rng.standard_normal((2, 3))),
        },
        "optim": {
            "state": {0: {"step": 3, "exp_avg": np.zeros((4, 3), np.float32)}, 1: {}},
            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "nesterov": False, "params": [0, 1], "tag": None}],
        },
        "epoch": 3,
        "loss": float("nan"),
        "best": -0.0,
        "big": 2**70,
        "history": np.array('{"epochs": []}'),
        "np_scalar": np.float32(1.5),
        "np_int": np.int16(-3),
        "name": "réseau ✓",
        "nested/key": {"a/b": np.arange(3), "%2F": np.arange(2), "": np.arange(1), "x\x00y": np.zeros(0)},
        3: "int key",
        "3": np.array([3.0]),
        "__manifest__": "a user key with the reserved name",
        "lists": [[], (), {}, [1, [2.5, "s"]]],
    }


@pytest.mark.parametrize("make_path", [str, pathlib.Path], ids=["str", "Path"])
def test_round_trip_keeps_nesting_types_and_dtypes(tmp_path, make_path):
    path = make_path(tmp_path / "checkpoint.npz")
    obj = _checkpoint()
    save(obj, path)
    _assert_same(load(path), obj)


def test_the_file_is_a_plain_npz_with_readable_flattened_names(tmp_path):
    path = tmp_path / "model.npz"
    save(_checkpoint(), path)
    with np.load(path, allow_pickle=False) as archive:
        names = set(archive.files)
        np.testing.assert_array_equal(archive["model/0.weight"], _checkpoint()["model"]["0.weight"])
    assert {"model/0.bias", "optim/state/0/exp_avg", "nested%2Fkey/a%2Fb", "nested%2Fkey/%252F"} <= names
    assert "__manifest__" in names


def test_the_exact_path_is_used_without_adding_a_suffix(tmp_path):
    for name in ("weights.npz", "weights.ckpt", "no_suffix"):
        save({"w": np.ones(2)}, tmp_path / name)
        np.testing.assert_array_equal(load(tmp_path / name)["w"], np.ones(2))
    assert sorted(os.listdir(tmp_path)) == ["no_suffix", "weights.ckpt", "weights.npz"]


def test_an_optimizer_checkpoint_resumes_training_identically(tmp_path):
    def make():
        return Tensor(np.array([1.0, -2.0]), requires_grad=True)

    def run(opt, x, steps):
        for _ in range(steps):
            opt.zero_grad()
            ((x * x * x).sum() + (x * 3).sum()).backward()
            opt.step()

    x = make()
    opt = optim.Adam([x], lr=0.1, weight_decay=0.01)
    run(opt, x, 3)
    save({"x": x, "optim": opt.state_dict()}, tmp_path / "ckpt.npz")
    run(opt, x, 3)

    checkpoint = load(tmp_path / "ckpt.npz")
    y = Tensor(checkpoint["x"], requires_grad=True)
    resumed = optim.Adam([y])
    resumed.load_state_dict(checkpoint["optim"])
    run(resumed, y, 3)
    np.testing.assert_array_equal(y.data, x.data)


def _fail(*args, **kwargs):
    raise OSError("disk full")


def _write_then_fail(member, array, allow_pickle):
    member.write(b"\x93NUMPY partial bytes")
    raise OSError("disk full")


@pytest.mark.parametrize(
    ("target", "attribute", "replacement"),
    [(np.lib.format, "write_array", _write_then_fail), (os, "replace", _fail), (os, "fsync", _fail)],
    ids=["write", "replace", "fsync"],
)
def test_a_failed_save_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, target, attribute, replacement):
    path = tmp_path / "model.npz"
    save({"w": np.ones(3), "epoch": 1}, path)
    old_bytes = path.read_bytes()
    monkeypatch.setattr(target, attribute, replacement)
    with pytest.raises(OSError, match="disk full"):
        save({"w": np.zeros(3), "epoch": 2}, path)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.npz"]
    assert path.read_bytes() == old_bytes
    assert load(path)["epoch"] == 1


def test_a_failed_first_save_leaves_no_file_at_all(tmp_path, monkeypatch):
    monkeypatch.setattr(np.lib.format, "write_array", _write_then_fail)
    with pytest.raises(OSError):
        save({"w": np.ones(3)}, tmp_path / "model.npz")
    assert os.listdir(tmp_path) == []


def test_save_writes_a_complete_temporary_file_then_renames_it_over_the_target(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save({"epoch": 1}, path)
    calls = []
    real_replace = os.replace

    def spy(src, dst):
        # At the moment of the rename the new file is complete and the old one still in place.
        calls.append((os.fspath(src), os.fspath(dst), load(src)["epoch"], load(path)["epoch"]))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    save({"epoch": 2}, path)
    ((src, dst, new_epoch, old_epoch),) = calls
    assert os.path.dirname(src) == str(tmp_path) and src != str(path)
    assert dst == str(path)
    assert (new_epoch, old_epoch) == (2, 1)
    assert load(path)["epoch"] == 2 and os.listdir(tmp_path) == ["model.npz"]


def test_replacing_a_file_keeps_its_permissions_and_a_new_file_follows_the_umask(tmp_path):
    path = tmp_path / "model.npz"
    previous = os.umask(0o027)
    try:
        save({"a": 1}, path)
        assert path.stat().st_mode & 0o777 == 0o640  # 0o666 & ~0o027, as open() would give
        path.chmod(0o604)
        save({"a": 2}, path)
        assert path.stat().st_mode & 0o777 == 0o604
    finally:
        os.umask(previous)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"w": np.array([{"x": 1}], dtype=object)}, r"obj\['w'\] is an array of Python objects"),
        ({"a": {"b": {1, 2}}}, r"cannot store set at obj\['a'\]\['b'\]"),
        ({1.5: np.ones(1)}, "keys must be str or int, got 1.5"),
        ({"f": lambda: 0}, "cannot store function"),
        ((lambda d: d.update(me=[d]) or d)({}), r"obj\['me'\]\[0\] holds itself"),
    ],
)
def test_unsupported_values_raise_type_error_before_touching_the_file(tmp_path, obj, message):
    path = tmp_path / "model.npz"
    save({"ok": 1}, path)
    with pytest.raises(TypeError, match=message):
        save(obj, path)
    assert load(path) == {"ok": 1} and os.listdir(tmp_path) == ["model.npz"]


def test_save_needs_a_dict_and_an_existing_directory(tmp_path):
    with pytest.raises(TypeError, match="stores a dict, got list"):
        save([np.ones(1)], tmp_path / "a.npz")
    with pytest.raises(FileNotFoundError, match="missing"):
        save({"a": 1}, tmp_path / "missing" / "a.npz")


def test_paths_that_cannot_be_read_or_written_name_the_function_and_the_path(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"nn.save: cannot write '{tmp_path}': Is a directory"):
        save({"a": 1}, tmp_path)
    with pytest.raises(IsADirectoryError, match=f"nn.load: cannot read '{tmp_path}': Is a directory"):
        load(tmp_path)
    with pytest.raises(TypeError, match="nn.save: path must be a str or os.PathLike, got NoneType"):
        save({"a": 1}, None)
    with pytest.raises(TypeError, match="nn.load: path must be a str or os.PathLike, got int"):
        load(3)
    assert os.listdir(tmp_path) == []


def test_a_pickled_npz_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([{"x": 1}], dtype=object), fine=np.ones(2))
    with pytest.raises(ValueError, match=r"evil\.npz.*pickled object arrays"):
        load(path)


def test_a_missing_file_raises_file_not_found_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nn.load: cannot read .*nowhere.npz"):
        load(tmp_path / "nowhere.npz")


@pytest.mark.parametrize("keep", [0, 10, 0.5, 0.9], ids=["empty", "head", "half", "most"])
def test_a_truncated_file_raises_value_error_naming_it(tmp_path, keep):
    good = tmp_path / "good.npz"
    save(_checkpoint(), good)
    data = good.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: int(keep * len(data)) if isinstance(keep, float) else keep])
    with pytest.raises(ValueError, match=r"cut\.npz"):
        load(cut)


def test_corrupt_files_raise_value_error_naming_them(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("not an archive")
    with pytest.raises(ValueError, match=r"notes\.npz.*not an \.npz archive"):
        load(text)

    bad_manifest = tmp_path / "manifest.npz"
    np.savez(bad_manifest, __manifest__=np.frombuffer(b'{"format": "chainrule.save"', dtype=np.uint8))
    with pytest.raises(ValueError, match=r"manifest\.npz.*unreadable manifest"):
        load(bad_manifest)

    dangling = tmp_path / "dangling.npz"
    save({"w": np.ones(2)}, dangling)
    with zipfile.ZipFile(dangling) as archive:
        manifest = archive.read("__manifest__.npy")
    with zipfile.ZipFile(dangling, "w") as archive:  # the manifest without the array it names
        archive.writestr("__manifest__.npy", manifest)
    with pytest.raises(ValueError, match=r"dangling\.npz.*unreadable manifest.*'w'"):
        load(dangling)


def test_a_plain_npz_loads_as_a_flat_dict(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, a=np.arange(3), b=np.eye(2, dtype=np.float32))
    _assert_same(load(path), {"a": np.arange(3), "b": np.eye(2, dtype=np.float32)})


def test_load_returns_independent_writable_arrays(tmp_path):
    path = tmp_path / "m.npz"
    save({"w": np.ones(3)}, path)
    first = load(path)
    first["w"] += 1
    np.testing.assert_array_equal(load(path)["w"], np.ones(3))


def test_a_model_and_optimizer_checkpoint_through_the_public_api_resumes_identically(tmp_path):
    import nn

    x, y = np.random.default_rng(1).standard_normal((6, 3)), np.random.default_rng(2).standard_normal((6, 2))

    def make():
        model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        return model, nn.optim.Adam(model.parameters(), lr=0.05, weight_decay=0.01)

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            ((model(Tensor(x.astype(np.float32))) - Tensor(y.astype(np.float32))) ** 2).mean().backward()
            opt.step()

    model, opt = make()
    train(model, opt, 2)
    nn.save({"model": model.state_dict(), "optim": opt.state_dict(), "epoch": 2}, tmp_path / "ckpt.npz")
    train(model, opt, 2)

    resumed, resumed_opt = make()
    checkpoint = nn.load(tmp_path / "ckpt.npz")
    resumed.load_state_dict(checkpoint["model"])
    resumed_opt.load_state_dict(checkpoint["optim"])
    train(resumed, resumed_opt, 2)
    assert checkpoint["epoch"] == 2
    for (name, got), (_, expected) in zip(resumed.named_parameters(), model.named_parameters()):
        np.testing.assert_array_equal(got.data, expected.data, err_msg=name)


def test_a_torch_save_file_is_refused_by_name_with_the_way_to_convert_it(tmp_path, torch):
    torch.save(torch.nn.Linear(2, 3).state_dict(), tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"is a PyTorch file \(torch.save\), a pickle, which is not read.*np.savez"):
        load(tmp_path / "model.pt")


def test_torch_loads_map_location_and_weights_only_port_as_written(tmp_path):
    # the PyTorch tutorials' model.load_state_dict(torch.load(PATH, weights_only=True)) and map_location="cpu"
    import nn

    model = nn.Linear(3, 2)
    save(model.state_dict(), tmp_path / "model.pth")
    for kwargs in ({"weights_only": True}, {"map_location": "cpu"}, {"map_location": "cpu", "weights_only": True}):
        state = load(tmp_path / "model.pth", **kwargs)
        np.testing.assert_array_equal(state["weight"], model.weight.data)
    with pytest.raises(ValueError, match="nn.load: chainrule runs on the CPU only, got map_location='cuda:0'"):
        load(tmp_path / "model.pth", map_location="cuda:0")
