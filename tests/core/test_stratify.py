"""Iterative stratification, grouping and quantile bins on their own (no workspace)."""

from __future__ import annotations

from collections import Counter

from studio_desktop.core.stratify import Item, group_indices, iterative_stratification, quantile_bins


def test_single_label_largest_remainder_within_one():
    # 3 classes of 50, 31, 17 images; ratios 0.7 / 0.2 / 0.1
    labels = [0] * 50 + [1] * 31 + [2] * 17
    items = [Item([i], {c: 1}) for i, c in enumerate(labels)]
    ratios = [0.7, 0.2, 0.1]
    out = iterative_stratification(items, ratios, seed=3)
    for c, n in Counter(labels).items():
        got = Counter(s for s, lab in zip(out, labels, strict=True) if lab == c)
        for j, r in enumerate(ratios):
            assert abs(got[j] - r * n) < 1 + 1e-9, (c, j, got[j], r * n)


def test_coverage_puts_a_three_image_class_in_every_subset():
    items = [Item([i], {"common": 1}) for i in range(40)]
    items += [Item([40 + i], {"rare": 1, "common": 1}) for i in range(3)]
    out = iterative_stratification(items, [0.8, 0.1, 0.1], seed=0)
    assert sorted(out[40:]) == [0, 1, 2]


def test_rare_class_fills_train_then_val():
    items = [Item([i], {"a": 1}) for i in range(20)] + [Item([20], {"b": 1}), Item([21], {"b": 1})]
    out = iterative_stratification(items, [0.8, 0.1, 0.1], seed=5)
    assert out[20:] == [0, 1]


def test_deterministic_per_seed_and_seed_matters():
    items = [Item([i], {i % 4: 1, "x": 1} if i % 3 else {}) for i in range(60)]
    a = iterative_stratification(items, [0.6, 0.2, 0.2], seed=1)
    b = iterative_stratification(items, [0.6, 0.2, 0.2], seed=1)
    c = iterative_stratification(items, [0.6, 0.2, 0.2], seed=2)
    assert a == b and a != c


def test_weights_count_images_not_groups():
    items = [Item(list(range(10 * g, 10 * g + 10))) for g in range(10)]
    out = iterative_stratification(items, [0.8, 0.2], seed=0)
    assert sum(items[i].weight for i, s in enumerate(out) if s == 0) == 80


def test_group_indices_chain_keys_transitively():
    groups_key = ["a", None, "a", None, "b"]
    sha = ["1", "2", "3", "2", "3"]
    groups = group_indices(5, [lambda i: groups_key[i], lambda i: sha[i]])
    assert sorted(map(sorted, groups)) == [[0, 2, 4], [1, 3]]


def test_quantile_bins_balanced_and_ties_share_a_bin():
    bins, ranges = quantile_bins([float(v) for v in range(100)] + [None], 4)
    assert bins[-1] is None
    assert Counter(bins[:-1]) == {0: 25, 1: 25, 2: 25, 3: 25}
    assert ranges[0][0] == 0 and ranges[-1][1] == 99
    tied, _ = quantile_bins([1.0] * 10 + [2.0] * 10, 4)
    assert len({b for v, b in zip([1.0] * 10, tied, strict=False)}) == 1
