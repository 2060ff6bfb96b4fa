"Feature interactions (H-statistic): a known answer, equality with a brute-force DataFrame reference, no side effects, errors, plots."
import json, random
import numpy as np, pandas as pd, torch, pytest
import matplotlib.pyplot as plt
import fastcore.test as fct
from fastai.tabular.all import (TabularDataLoaders, tabular_learner, Categorify, FillMissing, Normalize, RandomSplitter,
                                rmse, set_seed)
from fastinterp.all import *
from fastinterp.synth import synth_df, interaction_df, interaction_learner
import fastinterp.interactions as fi_mod


@pytest.fixture(scope='module')
def idf(): return interaction_df()


@pytest.fixture(scope='module')
def ilearn():
    "A TabularLearner that has learnt y = 2a + b + 3cd (valid rmse about 0.4 against a target std of about 3.9)"
    return interaction_learner()


@pytest.fixture(scope='module')
def h_all(ilearn): return ilearn.feature_interactions(seed=0, details=True)


def _sample(learn, df, rows):
    "The raw rows of the subsample `rows` (positions in the validation set)"
    return df.loc[learn.dls.valid.dataset.items.index[rows]]


def _brute_force(learn, sample, feats, i, col=0):
    "Every row of `sample` with `feats` set to row i's raw values, processed by test_dl, averaged get_preds"
    d = sample.copy()
    for f in feats: d[f] = sample[f].iloc[i]
    with learn.no_bar(): preds,_ = learn.get_preds(dl=learn.dls.test_dl(d))
    return float(preds[:, col].double().mean())


# --- the known answer

def test_cd_interaction_found(h_all):
    h = h_all.frame
    fct.test_eq({h.feature_1[0], h.feature_2[0]}, {'c', 'd'})
    assert h.h2[0] > 0.7, h
    assert (h.strength[1:] < 0.2*h.strength[0]).all(), h
    assert (h.h2[1:] < 0.2).all(), h
    # the interaction part of 3cd has an RMS of about 3 (c, d standard normal): the model's is of that order
    assert 2 < h.strength[0] < 4, h.strength[0]


def test_frame_and_attrs(h_all, ilearn):
    h = h_all.frame
    fct.test_eq(list(h.columns), ['feature_1', 'feature_2', 'h2', 'strength'])
    fct.test_eq(len(h), 15)
    fct.test_eq(list(h.strength), sorted(h.strength, reverse=True))
    feats = h.attrs['features']
    fct.test_eq(feats, ['noise_cat', 'a', 'b', 'c', 'd', 'noise_cont'])
    assert all(feats.index(a) < feats.index(b) for a, b in zip(h.feature_1, h.feature_2))
    fct.test_eq({frozenset(p) for p in zip(h.feature_1, h.feature_2)}, {frozenset((a, b)) for i, a in enumerate(feats) for b in feats[i+1:]})
    a = h.attrs
    fct.test_eq((a['analysis'], a['selected_by'], a['target'], a['n_rows'], a['max_samples'], a['seed']),
                ('feature_interactions', 'all', 'y', 200, 200, 0))
    json.dumps(a)   # plain data
    fct.test_close(a['prediction_std'], h_all.prediction.std())
    fct.test_eq(h_all.pd_1.shape, (6, 200)); fct.test_eq(h_all.pd_2.shape, (15, 200)); fct.test_eq(h_all.rows.shape, (200,))
    assert h_all.importance is None


def test_h_from_the_arrays(h_all):
    "The frame's numbers are the formula applied to the returned partial dependences"
    h, feats = h_all.frame, h_all.frame.attrs['features']
    c1 = h_all.pd_1 - h_all.pd_1.mean(1, keepdims=True)
    for r in range(len(h)):
        j, k = feats.index(h.feature_1[r]), feats.index(h.feature_2[r])
        c2 = h_all.pd_2[r] - h_all.pd_2[r].mean()
        res = c2 - c1[j] - c1[k]
        fct.test_close(h.h2[r], (res**2).sum()/(c2**2).sum(), eps=1e-9)
        fct.test_close(h.strength[r], np.sqrt((res**2).mean()), eps=1e-9)


def test_reproducible_with_seed(ilearn, h_all):
    h = ilearn.feature_interactions(max_samples=50, seed=3)
    pd.testing.assert_frame_equal(h, ilearn.feature_interactions(max_samples=50, seed=3))
    assert not h.equals(ilearn.feature_interactions(max_samples=50, seed=4))


def test_top_k_by_importance(ilearn):
    r = ilearn.feature_interactions(top_k=3, max_samples=100, seed=0, details=True)
    fct.test_eq(set(r.attrs['features']), {'a', 'c', 'd'})
    fct.test_eq(r.attrs['features'], list(r.importance.feature[:3]))
    fct.test_eq((r.attrs['selected_by'], r.attrs['top_k']), ('feature_importance', 3))
    fct.test_eq(r.importance.attrs['n_rows'], 100)   # the importance is computed on the same sampled rows
    fct.test_eq(len(r.frame), 3)


def test_explicit_features_keep_order(ilearn):
    r = ilearn.feature_interactions(['d', 'noise_cat', 'c'], max_samples=40, seed=0, top_k=2, details=True)
    fct.test_eq(r.attrs['features'], ['d', 'noise_cat', 'c'])   # top_k applies only to features=None
    fct.test_eq(r.attrs['selected_by'], 'features')
    fct.test_eq(r.pd_1.shape, (3, 40))


def test_max_samples_fraction_and_eval_set(ilearn):
    es = ilearn.eval_set()
    r = ilearn.feature_interactions(['c', 'd'], dl=es, max_samples=0.05, seed=0)
    fct.test_eq(r.attrs['n_rows'], round(0.05*len(es)))
    fct.test_eq(len(r), 1)


# --- equality with fastai's own predictions

def test_brute_force_points(ilearn, idf):
    r = ilearn.feature_interactions(['c', 'noise_cat', 'a'], max_samples=15, seed=1, details=True)
    sample = _sample(ilearn, idf, r.rows)
    fct.test_close(_brute_force(ilearn, sample, ['c'], 3), r.pd_1[0, 3], eps=1e-5)
    fct.test_close(_brute_force(ilearn, sample, ['noise_cat'], 9), r.pd_1[1, 9], eps=1e-5)
    for k in range(len(r.frame)):
        pair = [r.frame.feature_1[k], r.frame.feature_2[k]]
        for i in (0, 11): fct.test_close(_brute_force(ilearn, sample, pair, i), r.pd_2[k, i], eps=1e-5)
    with ilearn.no_bar(): p,_ = ilearn.get_preds(dl=ilearn.dls.test_dl(sample))
    fct.test_close(r.prediction, p[:, 0].numpy(), eps=1e-5)


def test_brute_force_missing(na_learn):
    "FillMissing: setting a row's missing x1 sets its fill value and its x1_na flag together"
    r = na_learn.feature_interactions(['x1', 'cat_a'], max_samples=40, seed=0, details=True)
    sample = synth_df(2000, missing=0.2).loc[na_learn.dls.valid.dataset.items.index[r.rows]]
    nan_rows = np.flatnonzero(sample.x1.isna().to_numpy())
    assert len(nan_rows) and (~sample.x1.isna()).any()
    for i in (int(nan_rows[0]), int(np.flatnonzero(sample.x1.notna().to_numpy())[0])):
        fct.test_close(_brute_force(na_learn, sample, ['x1'], i), r.pd_1[0, i], eps=1e-5)
        fct.test_close(_brute_force(na_learn, sample, ['x1', 'cat_a'], i), r.pd_2[0, i], eps=1e-5)


def test_brute_force_classifier(clf_learn):
    r = clf_learn.feature_interactions(['x0', 'cat_a'], max_samples=20, seed=0, details=True)
    fct.test_eq(r.attrs['target'], 'pos')
    sample = synth_df(2000, kind='classification').loc[clf_learn.dls.valid.dataset.items.index[r.rows]]
    fct.test_close(_brute_force(clf_learn, sample, ['x0', 'cat_a'], 4, col=1), r.pd_2[0, 4], eps=1e-5)
    r0 = clf_learn.feature_interactions(['x0', 'cat_a'], max_samples=20, seed=0, target='neg', details=True)
    fct.test_close(r0.pd_2, 1 - r.pd_2, eps=1e-5)
    fct.test_close(r0.frame.strength, r.frame.strength, eps=1e-5)   # p and 1-p interact alike


def test_shortcut_matches_plain_runner(ilearn):
    r = ilearn.feature_interactions(['c', 'd', 'noise_cat'], max_samples=30, seed=0, details=True)
    with shortcuts(False): s = ilearn.feature_interactions(['c', 'd', 'noise_cat'], max_samples=30, seed=0, details=True)
    fct.test_close(r.pd_1, s.pd_1, eps=1e-5); fct.test_close(r.pd_2, s.pd_2, eps=1e-5)


# --- guest behaviour

def test_no_side_effects(ilearn):
    items = ilearn.dls.valid.dataset.items.copy()
    ilearn.model.train()
    random.seed(1); np.random.seed(1); torch.manual_seed(1)
    before = random.random(), np.random.rand(), torch.rand(1)
    random.seed(1); np.random.seed(1); torch.manual_seed(1)
    ilearn.feature_interactions(top_k=3, max_samples=30)        # seed=None: drawn from the OS, not the global RNGs
    after = random.random(), np.random.rand(), torch.rand(1)
    fct.test_eq(before[:2], after[:2]); fct.test_eq(before[2], after[2])
    assert ilearn.model.training and all(m.training for m in ilearn.model.modules())
    pd.testing.assert_frame_equal(items, ilearn.dls.valid.dataset.items)
    ilearn.model.eval()


# --- errors

@pytest.mark.parametrize('kwargs,exc,match', [
    (dict(features=['c', 'nope']), ArgumentError, "Unknown feature 'nope'.*Valid features"),
    (dict(features=['c']), ArgumentError, 'at least 2 features'),
    (dict(features='c'), ArgumentError, 'at least 2 features'),
    (dict(features=['c', 'c']), ArgumentError, 'more than once'),
    (dict(features=[1, 2]), ArgumentError, r'Unknown features 1, 2 in features.*Valid features'),   # int names exist (columns 0, 1, ...)
    (dict(features=[1.5, 2]), ArgumentError, 'feature name or a list of names'),
    (dict(max_samples=0), ArgumentError, 'max_samples must be'),
    (dict(max_samples=1.5), ArgumentError, 'max_samples must be'),
    (dict(max_samples=-3), ArgumentError, 'max_samples must be'),
    (dict(max_samples=1), DataError, 'at least 2 rows'),
    (dict(top_k=1), ArgumentError, 'top_k must be an int of at least 2'),
    (dict(seed=-1), ArgumentError, 'seed must be'),
    (dict(bs=0), ArgumentError, 'bs must be'),
    (dict(target='all'), ArgumentError, "target='all' is for partial dependence"),
    (dict(target='z'), ArgumentError, "Unknown target 'z'"),
])
def test_bad_arguments(ilearn, kwargs, exc, match):
    with pytest.raises(exc, match=match): ilearn.feature_interactions(**kwargs)


def test_too_many_rows(ilearn, monkeypatch):
    monkeypatch.setattr(fi_mod, 'MAX_INTERACTION_ROWS', 100)
    with pytest.raises(ArgumentError, match=r'square.*at most 100.*max_samples=200'): ilearn.feature_interactions(max_samples=None)


def test_top_k_without_targets(ilearn, idf):
    dl = ilearn.dls.test_dl(idf.drop(columns='y').iloc[:300])
    with pytest.raises(DataError, match='needs the rows.? targets'): ilearn.feature_interactions(dl=dl, top_k=3, max_samples=20)
    fct.test_eq(len(ilearn.feature_interactions(['c', 'd'], dl=dl, max_samples=20, seed=0)), 1)   # H itself needs no targets


def test_needs_tabular():
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.losses import MSELossFlat
    X = torch.randn(64, 3); ds = list(zip(X, X[:, :1]))
    learn = Learner(DataLoaders(DataLoader(ds, bs=16), DataLoader(ds, bs=16)), torch.nn.Linear(3, 1), loss_func=MSELossFlat())
    h = learn.feature_interactions(names=['a', 'b', 'c'], seed=0)   # a linear model over tensor columns: no interaction at all
    fct.test_eq(len(h), 3); assert (h.strength < 1e-6).all(), h


# --- plots

def test_plot_strength_and_h2(h_all):
    ax = plot_interactions(h_all)                       # a Result is accepted
    fct.test_eq([t.get_text() for t in ax.get_yticklabels()][:2], ['c', 'd'])
    arr = ax.images[0].get_array()
    fct.test_eq(arr.shape, (6, 6)); fct.test_eq(list(arr.mask.diagonal()), [True]*6)
    z = np.ma.filled(arr.astype(float), np.nan)
    np.testing.assert_array_equal(z, z.T)
    fct.test_close(arr[0, 1], h_all.frame.strength[0])
    fct.test_eq(len(ax.texts), 30)
    ax2 = plot_interactions(h_all.frame, value='h2', annotate=False)
    fct.test_close(ax2.images[0].get_array()[0, 1], h_all.frame.h2[0])
    fct.test_eq(len(ax2.texts), 0)
    assert 'H²' in ax2.get_title()


def test_plot_sized_to_features(ilearn, h_all):
    small = plot_interactions(ilearn.feature_interactions(['c', 'd', 'a'], max_samples=20, seed=0))
    assert small.figure.get_size_inches()[1] < plot_interactions(h_all).figure.get_size_inches()[1]
    fig, ax = plt.subplots()
    assert plot_interactions(h_all, ax=ax) is ax


def test_plot_errors(ilearn, h_all):
    with pytest.raises(ArgumentError, match="value must be one of 'strength', 'h2'"): plot_interactions(h_all, value='H')
    with pytest.raises(ArgumentError, match='needs the result of feature_interactions'):
        plot_interactions(ilearn.feature_importance(seed=0, n_repeats=1))
    with pytest.raises(ArgumentError, match='without the columns'): plot_interactions(pd.DataFrame({'a': [1]}))
    with pytest.raises(ArgumentError, match='needs the result of feature_interactions'): plot_interactions([1, 2])
