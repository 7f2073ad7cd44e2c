"""fastbce as a LightGBM custom objective: the same model as LightGBM's built-in ``binary``
objective. LightGBM is an optional test extra (``pip install .[test,lightgbm]``); the test command
of the README installs it and sets FASTBCE_REQUIRE_OPTIONAL=1, which turns a missing import into a
failure rather than a skip."""

from __future__ import annotations

import fastbce
import numpy as np
from conftest import optional_import

lgb = optional_import("lightgbm")


def dataset(seed: int, n: int = 4000):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, 6))
    logit = 1.5 * features[:, 0] - features[:, 1] + 0.5 * features[:, 2] * features[:, 3]
    labels = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(np.float64)
    weights = rng.uniform(0.5, 2.0, n)
    return features, labels, weights


# Built-in and custom objectives start from the same raw score (0) and run the same way.
PARAMS = dict(
    learning_rate=0.1,
    num_leaves=15,
    min_data_in_leaf=20,
    boost_from_average=False,
    deterministic=True,
    force_row_wise=True,
    num_threads=1,
    verbose=-1,
)


def fastbce_objective(preds: np.ndarray, data) -> tuple[np.ndarray, np.ndarray]:
    """The README's objective: per-row gradient and hessian of the with-logits loss."""
    return fastbce.binary_cross_entropy_with_logits_grad_hess(preds, data.get_label(), data.get_weight())


def test_custom_objective_matches_builtin_binary():
    features, labels, weights = dataset(0)
    for w in (None, weights):
        builtin = lgb.train(dict(PARAMS, objective="binary"), lgb.Dataset(features, labels, weight=w), 60)
        custom = lgb.train(
            dict(PARAMS, objective=fastbce_objective), lgb.Dataset(features, labels, weight=w), 60
        )
        test_features, _, _ = dataset(1, 1000)
        want = builtin.predict(test_features, raw_score=True)
        got = custom.predict(test_features, raw_score=True)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
        # and it learned something: far better than the constant model's log loss of log(2)
        assert fastbce.binary_cross_entropy_with_logits(got, dataset(1, 1000)[1]) < 0.6
