import os
import pickle
import sys

import numpy as np
import pytest

import autograd
from autograd import Tensor
from nn.data import DataLoader, Dataset, TensorDataset, load_cifar10, load_digits, make_spiral

RECORDS = 20  # per fake CIFAR-10 batch file
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
ALL_FILES = [*TRAIN_FILES, "test_batch"]


# --- fake CIFAR-10 archives with the official layouts ----------------------------------------


def fake_batches(seed=0):
    """{file name: (pixels uint8 (RECORDS, 3072), labels int (RECORDS,))} for the six batches."""
    rng = np.random.default_rng(seed)
    return {
        name: (rng.integers(0, 256, (RECORDS, 3072), dtype=np.uint8), rng.integers(0, 10, RECORDS))
        for name in ALL_FILES
    }


def write_bin(folder, batches):
    folder.mkdir(parents=True, exist_ok=True)
    for name, (pixels, labels) in batches.items():
        records = np.concatenate([labels.astype(np.uint8)[:, None], pixels], axis=1)
        records.tofile(folder / f"{name}.bin")
    return folder


def write_py(folder, batches, protocol=2):
    """The official python batches: dicts with bytes keys, data uint8 (n, 3072), labels a list."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, (pixels, labels) in batches.items():
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in labels],
            b"data": pixels,
            b"filenames": [f"img_{i}.png".encode() for i in range(len(labels))],
        }
        data = pickle.dumps(batch, protocol=protocol)
        if protocol == 2:
            # The official files were pickled under NumPy 1, whose reconstructor lives in numpy.core;
            # protocol 2 names globals as newline-terminated text, so the rename is a plain replace.
            data = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
        (folder / name).write_bytes(data)
    return folder


def expected(batches):
    images = {name: pixels.reshape(-1, 3, 32, 32) / 255.0 for name, (pixels, _) in batches.items()}
    return (
        np.concatenate([images[n] for n in TRAIN_FILES]),
        np.concatenate([batches[n][1] for n in TRAIN_FILES]),
        images["test_batch"],
        batches["test_batch"][1],
    )


def assert_cifar_equal(got, want):
    X_train, y_train, X_test, y_test = got
    assert X_train.shape == (5 * RECORDS, 3, 32, 32) and X_test.shape == (RECORDS, 3, 32, 32)
    assert X_train.dtype == X_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.int64
    assert X_train.min() >= 0.0 and X_train.max() <= 1.0
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6)


@pytest.mark.parametrize("layout", ["bin", "py"])
@pytest.mark.parametrize("point_at_folder", [False, True])
def test_load_cifar10_reads_both_layouts_from_root_or_the_folder_itself(tmp_path, layout, point_at_folder):
    batches = fake_batches()
    writer = write_bin if layout == "bin" else write_py
    folder = writer(tmp_path / f"cifar-10-batches-{layout}", batches)
    got = load_cifar10(folder if point_at_folder else tmp_path)
    assert_cifar_equal(got, expected(batches))


def test_load_cifar10_pixel_layout_is_channel_planes_in_nchw(tmp_path):
    batches = fake_batches()
    pixels, _ = batches["data_batch_1"]
    write_bin(tmp_path / "cifar-10-batches-bin", batches)
    X_train = load_cifar10(tmp_path)[0]
    # Record layout: 1024 red, then 1024 green, then 1024 blue bytes, each plane row-major 32x32.
    assert X_train[0, 1, 2, 3] == np.float32(pixels[0, 1024 + 2 * 32 + 3] / 255.0)


def test_load_cifar10_reads_python_batches_pickled_with_protocol_4(tmp_path):
    batches = fake_batches(1)
    write_py(tmp_path / "cifar-10-batches-py", batches, protocol=4)
    assert_cifar_equal(load_cifar10(tmp_path), expected(batches))


def test_load_cifar10_missing_root_raises_file_not_found_naming_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-bin"):
        load_cifar10(tmp_path / "nowhere")


@pytest.mark.parametrize("layout", ["bin", "py"])
def test_load_cifar10_missing_batch_file_names_the_file(tmp_path, layout):
    writer = write_bin if layout == "bin" else write_py
    folder = writer(tmp_path / f"cifar-10-batches-{layout}", fake_batches())
    missing = folder / ("data_batch_3" + (".bin" if layout == "bin" else ""))
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=str(missing)):
        load_cifar10(tmp_path)


def test_load_cifar10_truncated_binary_file_names_the_file(tmp_path):
    folder = write_bin(tmp_path / "cifar-10-batches-bin", fake_batches())
    path = folder / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match=str(path)):
        load_cifar10(tmp_path)


def test_load_cifar10_truncated_pickle_names_the_file(tmp_path):
    folder = write_py(tmp_path / "cifar-10-batches-py", fake_batches())
    path = folder / "test_batch"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ValueError, match=str(path)):
        load_cifar10(tmp_path)


def test_load_cifar10_binary_label_out_of_range_is_rejected(tmp_path):
    folder = write_bin(tmp_path / "cifar-10-batches-bin", fake_batches())
    path = folder / "test_batch.bin"
    raw = bytearray(path.read_bytes())
    raw[0] = 10
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        load_cifar10(tmp_path)


class RunsShellCommand:
    """Unpickles into a call of os.system, the classic pickle exploit."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_load_cifar10_restricted_unpickler_refuses_code_execution(tmp_path):
    folder = write_py(tmp_path / "cifar-10-batches-py", fake_batches())
    marker = tmp_path / "pwned"
    evil = {b"data": RunsShellCommand(f"touch {marker}"), b"labels": [0]}
    path = folder / "data_batch_1"
    path.write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing") as info:
        load_cifar10(tmp_path)
    assert str(path) in str(info.value)
    assert not marker.exists()


def test_load_cifar10_pickle_of_wrong_structure_is_rejected(tmp_path):
    folder = write_py(tmp_path / "cifar-10-batches-py", fake_batches())
    path = folder / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((3, 5), np.uint8), b"labels": [0, 1, 2]}))
    with pytest.raises(ValueError, match=str(path)):
        load_cifar10(tmp_path)


# --- TensorDataset / DataLoader ---------------------------------------------------------------


def test_tensor_dataset_indexes_all_arrays_together_and_accepts_tensors():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    ds = TensorDataset(Tensor(X), y)
    assert len(ds) == 6
    xs, ys = ds[np.array([4, 1])]
    np.testing.assert_array_equal(xs, X[[4, 1]])
    np.testing.assert_array_equal(ys, [4, 1])
    x0, y0 = ds[2]
    np.testing.assert_array_equal(x0, X[2])
    assert y0 == 2


def test_tensor_dataset_mismatched_lengths_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(5, 3\), \(4,\)"):
        TensorDataset(np.zeros((5, 3)), np.zeros(4))


def epoch_indices(loader):
    """The sample ids of one epoch, batch by batch (the dataset's first array holds the ids)."""
    return [ids.data.tolist() for ids, _ in loader]


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("n, batch_size", [(10, 3), (12, 4), (5, 8)])
def test_dataloader_epoch_covers_every_sample_exactly_once(shuffle, drop_last, n, batch_size):
    ids = np.arange(n)
    X = np.random.default_rng(0).normal(size=(n, 2)).astype(np.float32)
    loader = DataLoader(
        TensorDataset(ids, X), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=1
    )
    batches = list(loader)
    assert len(batches) == len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
    seen = np.concatenate([b[0].data for b in batches]) if batches else np.array([], dtype=np.int64)
    for batch_ids, batch_X in batches:
        assert isinstance(batch_ids, Tensor) and isinstance(batch_X, Tensor)
        assert batch_X.data.dtype == np.float32 and batch_ids.data.dtype == ids.dtype
        np.testing.assert_array_equal(batch_X.data, X[batch_ids.data])
    sizes = [len(b[0].data) for b in batches]
    assert all(s == batch_size for s in sizes[:-1])
    if drop_last:
        assert len(seen) == n - n % batch_size and len(set(seen.tolist())) == len(seen)
        assert all(s == batch_size for s in sizes)
    else:
        assert sorted(seen.tolist()) == list(range(n))
    if not shuffle:
        assert seen.tolist() == list(range(len(seen)))


def test_dataloader_seeded_shuffle_is_reproducible_and_differs_between_epochs():
    ds = TensorDataset(np.arange(50), np.zeros(50))
    a = DataLoader(ds, batch_size=7, shuffle=True, seed=123)
    b = DataLoader(ds, batch_size=7, shuffle=True, seed=123)
    epochs_a = [epoch_indices(a) for _ in range(3)]
    epochs_b = [epoch_indices(b) for _ in range(3)]
    assert epochs_a == epochs_b
    assert epochs_a[0] != epochs_a[1] != epochs_a[2]
    assert epoch_indices(DataLoader(ds, batch_size=7, shuffle=True, seed=124)) != epochs_a[0]


def test_an_unseeded_shuffle_follows_autograd_manual_seed():
    ds = TensorDataset(np.arange(50), np.zeros(50))
    orders = []
    for seed in (5, 5, 6):
        autograd.manual_seed(seed)
        loader = DataLoader(ds, batch_size=7, shuffle=True)
        orders.append([epoch_indices(loader) for _ in range(2)])
    assert orders[0] == orders[1] and orders[0] != orders[2]
    assert orders[0][0] != orders[0][1]  # still a fresh order each epoch


def test_tensor_dataset_tensors_are_its_arrays_as_tensors_as_pytorch_names_them():
    X, y = np.arange(6, dtype=np.float32).reshape(3, 2), np.array([0, 1, 0])
    xs, ys = TensorDataset(X, autograd.tensor(y)).tensors
    assert isinstance(xs, Tensor) and xs.shape == (3, 2) and xs.dtype == np.float32 and ys.dtype == y.dtype
    assert np.shares_memory(xs.data, X)
    np.testing.assert_array_equal(ys.data, y)


def test_pytorchs_num_workers_and_pin_memory_are_accepted_and_change_no_batch():
    # the CIFAR-10 tutorial's DataLoader(trainset, batch_size=4, shuffle=True, num_workers=2) ports as written
    ds = TensorDataset(np.arange(20), np.zeros(20))
    plain = DataLoader(ds, batch_size=6, shuffle=True, seed=3)
    ported = DataLoader(ds, batch_size=6, shuffle=True, seed=3, num_workers=2, pin_memory=True)
    assert [epoch_indices(ported) for _ in range(2)] == [epoch_indices(plain) for _ in range(2)]


@pytest.mark.parametrize(("sample", "what"), [({"x": np.ones(2), "y": 1}, "field 0 of a sample is a dict"),
                                              ((np.ones(2), "cat"), "field 1 of a sample is a str")])
def test_a_sample_a_tensor_cannot_hold_is_named_in_the_error(sample, what):
    with pytest.raises(TypeError, match=f"DataLoader: {what}"):
        next(iter(DataLoader([sample, sample], batch_size=2)))


def test_dataloader_gathers_plain_map_style_datasets_sample_by_sample():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full(2, i * i, dtype=np.float32), i

    xs, ys = next(iter(DataLoader(Squares(), batch_size=3)))
    np.testing.assert_array_equal(xs.data, [[0, 0], [1, 1], [4, 4]])
    np.testing.assert_array_equal(ys.data, [0, 1, 2])


def test_dataset_subclasses_load_as_in_torch_and_name_what_they_lack():
    class Pairs(Dataset):
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return np.array([i, -i], dtype=np.float32), i % 2

    batches = list(DataLoader(Pairs(5), batch_size=2))
    assert [b[1].tolist() for b in batches] == [[0, 1], [0, 1], [0]]
    np.testing.assert_array_equal(batches[1][0].data, [[2, -2], [3, -3]])
    assert isinstance(TensorDataset(np.zeros(2)), Dataset)
    with pytest.raises(NotImplementedError, match="Empty does not define __len__"):
        len(type("Empty", (Dataset,), {})())


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True])
def test_dataloader_rejects_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(TensorDataset(np.zeros(3)), batch_size=batch_size)


# --- load_digits / make_spiral ----------------------------------------------------------------


def test_load_digits_shapes_dtypes_and_range():
    pytest.importorskip("sklearn")
    X, y = load_digits()
    assert X.shape == (1797, 1, 8, 8) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert set(np.unique(y).tolist()) == set(range(10))


def test_load_digits_split_is_disjoint_complete_stratified_and_reproducible():
    pytest.importorskip("sklearn")
    X, y = load_digits()
    X_train, y_train = load_digits("train")
    X_test, y_test = load_digits("test")
    assert len(X_train) + len(X_test) == 1797
    assert abs(len(X_test) - 0.2 * 1797) <= 10
    assert X_train.shape[1:] == X_test.shape[1:] == (1, 8, 8)
    # Map each split sample back to its row in the full set via its pixels (no two digits images
    # are identical) and check that the rows partition the data set.
    rows = {x.tobytes(): i for i, x in enumerate(X)}
    assert len(rows) == 1797
    train_rows = {rows[x.tobytes()] for x in X_train}
    test_rows = {rows[x.tobytes()] for x in X_test}
    assert not train_rows & test_rows
    assert len(train_rows | test_rows) == len(rows)
    np.testing.assert_array_equal(np.bincount(y_test), np.round(0.2 * np.bincount(y)))
    X_train2, y_train2 = load_digits("train")
    np.testing.assert_array_equal(X_train, X_train2)
    np.testing.assert_array_equal(y_train, y_train2)


def test_load_digits_bad_split_raises():
    with pytest.raises(ValueError, match="split"):
        load_digits("validation")


def test_load_digits_without_sklearn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install chainrule\[train\]"):
        load_digits()


def test_make_spiral_shapes_class_counts_and_reproducibility():
    X, y = make_spiral(n_per_class=50, classes=4, seed=3)
    assert X.shape == (200, 2) and X.dtype == np.float32
    assert y.shape == (200,) and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [50] * 4)
    assert np.linalg.norm(X, axis=1).max() <= 1.0 + 1e-6  # radius runs over [0, 1]
    X2, _ = make_spiral(n_per_class=50, classes=4, seed=3)
    np.testing.assert_array_equal(X, X2)
    assert not np.array_equal(X, make_spiral(n_per_class=50, classes=4, seed=4)[0])


def test_make_spiral_default_matches_cs231n_geometry():
    X, y = make_spiral()
    assert X.shape == (300, 2) and np.bincount(y).tolist() == [100, 100, 100]
    # The last point of each arm sits at radius 1, angle 4(j + 1) plus N(0, 0.2^2) noise.
    ends = X[[99, 199, 299]]
    np.testing.assert_allclose(np.linalg.norm(ends, axis=1), 1.0, rtol=1e-6)
    angles = np.arctan2(ends[:, 0], ends[:, 1])
    wrapped = np.angle(np.exp(1j * (angles - 4.0 * np.arange(1, 4))))
    assert np.all(np.abs(wrapped) < 1.0)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: TensorDataset([[1.0, 2.0], [3.0]]), ValueError, "TensorDataset: array 0 is a ragged nested sequence"),
        (lambda: DataLoader(None, 2), TypeError, "DataLoader: dataset needs __len__ and __getitem__, got NoneType"),
        (lambda: DataLoader(TensorDataset(np.ones(3)), 2, shuffle=True, seed=-1), ValueError, "seed must be .* got -1"),
        (lambda: DataLoader(TensorDataset(np.ones(3)), 2, seed="a"), ValueError, "DataLoader: seed .* got 'a'"),
        (lambda: DataLoader(TensorDataset(np.ones(3)), 2, num_workers=-1), ValueError,
         "DataLoader: num_workers must be an integer >= 0, got -1"),
        (lambda: list(DataLoader([(np.zeros(2), 0), (np.ones(3), 1)], 2)), ValueError,
         r"DataLoader: field 0 of the samples in one batch has different shapes: \(2,\), \(3,\)"),
        (lambda: make_spiral(2.5), ValueError, "make_spiral: n_per_class must be a positive integer, got 2.5"),
        (lambda: make_spiral(5, seed=-1), ValueError, "make_spiral: seed must be an integer >= 0, got -1"),
    ],
    ids=["ragged-list", "no-dataset", "negative-seed", "string-seed", "negative-workers", "ragged-samples",
         "float-count", "spiral-seed"],
)
def test_bad_datasets_and_arguments_name_the_function_and_the_value(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(("n", "drop_last", "shapes"), [(0, False, []), (3, False, [(3, 2)]), (3, True, [])])
def test_an_empty_dataset_or_a_batch_larger_than_the_data_gives_what_there_is(n, drop_last, shapes):
    loader = DataLoader(TensorDataset(np.ones((n, 2)), np.zeros(n)), batch_size=10, shuffle=True, drop_last=drop_last)
    assert [x.shape for x, _ in loader] == shapes and len(loader) == len(shapes)
