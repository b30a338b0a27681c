import math

import numpy as np
import pytest

import nn.knn
from autograd import Tensor
from nn.knn import KNearestNeighbor, choose_k


def reference_distance(a, b, metric):
    """Distance between two flat sequences, in plain Python."""
    if metric == "l1":
        return sum(abs(p - q) for p, q in zip(a, b))
    return math.sqrt(sum((p - q) ** 2 for p, q in zip(a, b)))


def reference_predict(X_train, y_train, X_test, k, metric):
    """Brute-force kNN with the documented tie rules: equal distances go to the lower training
    index; equal vote counts go to the class whose nearest member is closest."""
    predictions = []
    for x in X_test.reshape(len(X_test), -1).tolist():
        dist = [reference_distance(x, t, metric) for t in X_train.reshape(len(X_train), -1).tolist()]
        nearest = sorted(range(len(dist)), key=lambda i: (dist[i], i))[:k]
        labels = [y_train[i] for i in nearest]
        predictions.append(max(labels, key=lambda c: (labels.count(c), -labels.index(c))))
    return np.array(predictions)


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_distances_match_brute_force_python(metric):
    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(13, 2, 3))
    X_test = rng.normal(size=(7, 2, 3))
    got = KNearestNeighbor(metric).fit(X_train, np.zeros(13, dtype=np.int64)).distances(X_test)
    want = [
        [reference_distance(a, b, metric) for b in X_train.reshape(13, -1).tolist()]
        for a in X_test.reshape(7, -1).tolist()
    ]
    assert got.shape == (7, 13)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_l2_distance_of_a_sample_to_itself_is_exactly_zero_not_nan():
    X = np.random.default_rng(1).normal(size=(20, 50)).astype(np.float32) * 100
    dist = KNearestNeighbor("l2").fit(X, np.arange(20)).distances(X)
    assert np.all(np.isfinite(dist)) and np.all(dist >= 0)
    assert np.all(np.diag(dist) < 1e-2 * dist[~np.eye(20, dtype=bool)].min())


@pytest.mark.parametrize("metric", ["l1", "l2"])
@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 25])
def test_predict_matches_brute_force_python_including_ties(metric, k):
    # Small integer pixels make many equal distances and equal vote counts, so the tie rules
    # are exercised; labels need not be 0..C-1.
    rng = np.random.default_rng(k)
    X_train = rng.integers(0, 3, size=(25, 1, 2, 2)).astype(np.float64)
    y_train = rng.choice(np.array([3, 7, 42]), size=25)
    X_test = rng.integers(0, 3, size=(40, 1, 2, 2)).astype(np.float64)
    got = KNearestNeighbor(metric).fit(X_train, y_train).predict(X_test, k=k)
    np.testing.assert_array_equal(got, reference_predict(X_train, y_train.tolist(), X_test, k, metric))
    assert got.dtype == y_train.dtype


def test_vote_tie_goes_to_the_class_of_the_nearest_neighbour():
    X_train = np.array([[0.0], [1.0], [-2.0], [3.0]])
    y_train = np.array([5, 1, 1, 5])
    # With k=2 the vote is 1:1 between labels 1 and 5; the nearer of the two neighbours decides.
    # From 0.9 the nearest is 1.0 (label 1), from 0.1 it is 0.0 (label 5, the larger label).
    assert KNearestNeighbor().fit(X_train, y_train).predict(np.array([[0.9]]), k=2).tolist() == [1]
    assert KNearestNeighbor().fit(X_train, y_train).predict(np.array([[0.1]]), k=2).tolist() == [5]


def test_equal_distances_prefer_the_lower_training_index():
    X_train = np.array([[1.0], [-1.0], [1.0]])
    y_train = np.array([2, 0, 1])
    assert KNearestNeighbor("l1").fit(X_train, y_train).predict(np.zeros((1, 1)), k=1).tolist() == [2]


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_blocked_computation_matches_one_shot(monkeypatch, metric):
    rng = np.random.default_rng(2)
    X_train, y_train = rng.normal(size=(30, 8)), rng.integers(0, 4, 30)
    X_test = rng.normal(size=(17, 8))
    model = KNearestNeighbor(metric).fit(X_train, y_train)
    dist, pred = model.distances(X_test), model.predict(X_test, k=5)
    monkeypatch.setattr(nn.knn, "_BLOCK_ELEMENTS", 50)  # forces many small blocks
    np.testing.assert_allclose(model.distances(X_test), dist, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X_test, k=5), pred)


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_k1_on_the_training_data_is_100_percent(metric):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(60, 3, 4, 4)).astype(np.float32)
    y = rng.integers(0, 10, 60)
    model = KNearestNeighbor(metric).fit(Tensor(X), Tensor(y))
    assert np.mean(model.predict(Tensor(X), k=1) == y) == 1.0


@pytest.mark.parametrize("metric, k", [("l2", 1), ("l2", 3), ("l1", 3)])
def test_knn_on_digits_beats_95_percent(metric, k):
    pytest.importorskip("sklearn")
    from nn.data import load_digits

    X_train, y_train = load_digits("train")
    X_test, y_test = load_digits("test")
    accuracy = np.mean(KNearestNeighbor(metric).fit(X_train, y_train).predict(X_test, k=k) == y_test)
    assert accuracy > 0.95


def test_choose_k_returns_a_listed_k_with_one_accuracy_per_fold():
    rng = np.random.default_rng(4)
    centres = rng.normal(scale=4.0, size=(3, 5))
    y = rng.integers(0, 3, 90)
    X = centres[y] + rng.normal(size=(90, 5))
    ks = (1, 3, 5, 9)
    best_k, accuracies = choose_k(X, y, ks=ks, folds=4)
    assert best_k in ks
    assert set(accuracies) == set(ks)
    assert all(len(a) == 4 and all(0.0 <= v <= 1.0 for v in a) for a in accuracies.values())
    means = {k: np.mean(a) for k, a in accuracies.items()}
    assert means[best_k] == max(means.values())
    assert (best_k, accuracies) == choose_k(X, y, ks=ks, folds=4)


def test_choose_k_prefers_k_that_smooths_label_noise():
    # Two well-separated blobs with 20% flipped labels: k=1 copies the noise, larger k votes it away.
    rng = np.random.default_rng(5)
    y_clean = np.repeat([0, 1], 100)
    X = np.where(y_clean[:, None] == 0, -3.0, 3.0) + rng.normal(size=(200, 2))
    y = np.where(rng.random(200) < 0.2, 1 - y_clean, y_clean)
    best_k, accuracies = choose_k(X, y, ks=(1, 15), folds=5)
    assert best_k == 15 and np.mean(accuracies[15]) > np.mean(accuracies[1])


def test_errors():
    with pytest.raises(ValueError, match="metric"):
        KNearestNeighbor("cosine")
    with pytest.raises(RuntimeError, match="fit"):
        KNearestNeighbor().predict(np.zeros((1, 2)))
    model = KNearestNeighbor().fit(np.zeros((4, 2)), np.arange(4))
    with pytest.raises(ValueError, match="k must lie in 1..4"):
        model.predict(np.zeros((1, 2)), k=5)
    with pytest.raises(ValueError, match="features"):
        model.predict(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="y must have shape"):
        KNearestNeighbor().fit(np.zeros((4, 2)), np.arange(3))
    with pytest.raises(ValueError, match="folds"):
        choose_k(np.zeros((4, 2)), np.arange(4), folds=1)
    with pytest.raises(ValueError, match="NaN"):
        model.predict(np.array([[np.nan, 0.0]]))


@pytest.mark.parametrize("k", [0, -1, 1.5, 2.0, True, None, "3"])
def test_a_k_that_is_not_a_positive_integer_is_refused_by_name(k):
    model = KNearestNeighbor().fit(np.zeros((4, 2)), np.arange(4))
    with pytest.raises(ValueError, match=f"KNearestNeighbor: k must be a positive integer, got {k!r}"):
        model.predict(np.zeros((1, 2)), k=k)


@pytest.mark.parametrize("metric", ["l1", "l2"])
@pytest.mark.parametrize("where", ["train", "test"])
def test_an_infinite_sample_is_refused_not_voted_on(metric, where):
    X = np.arange(8.0).reshape(4, 2)
    bad = X.copy()
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="KNearestNeighbor: sample 2 holds NaN or inf"):
        if where == "train":
            KNearestNeighbor(metric).fit(bad, np.arange(4))
        else:
            KNearestNeighbor(metric).fit(X, np.arange(4)).predict(bad)


def test_no_test_samples_give_no_labels_and_no_training_samples_a_clear_error():
    model = KNearestNeighbor().fit(np.zeros((4, 2)), np.array(list("abab")))
    labels = model.predict(np.zeros((0, 2)))
    assert labels.shape == (0,) and labels.dtype == model.y_train.dtype
    with pytest.raises(ValueError, match="fit: needs at least one training sample"):
        KNearestNeighbor().fit(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(TypeError, match="samples must be numbers, got dtype <U1"):
        KNearestNeighbor().fit(np.array([["a"]] * 2), np.arange(2))


@pytest.mark.parametrize(
    ("y", "ks", "message"),
    [
        (np.arange(9), (1,), r"choose_k: y must have shape \(10,\)"),
        (np.arange(10), (6,), "choose_k: k = 6 exceeds the 5 samples a fold of 10 trains on with folds=2"),
        (np.arange(10), (0,), "choose_k: every k must be a positive integer, got 0"),
    ],
)
def test_choose_k_checks_labels_and_ks_against_the_folds(y, ks, message):
    with pytest.raises(ValueError, match=message):
        choose_k(np.zeros((10, 2)), y, ks=ks, folds=2)
