"Partial dependence, ICE and ALE: ground truth on synthetic data, equality with a brute-force DataFrame reference, errors, plots."
import random
import numpy as np, pandas as pd, torch, pytest
import fastcore.test as fct
from fastai.data.transforms import CategoryMap
from fastinterp.all import *
from fastinterp.synth import synth_learner, synth_df
from fastinterp.dependence import default_grid
from fastinterp.inputs import raw_frame
from fastinterp.outputs import resolve_target, averaged_targets
from helpers import valid_df as _valid_df, brute_force_preds


@pytest.fixture(scope='module')
def fit_learn():
    "A regression learner trained well enough (lr 3e-2) for its partial dependence to recover the data's effects"
    return synth_learner('regression', n=2000, epochs=4, lr=3e-2)


def _brute_force(learn, df, values, col=0):
    "Set raw column(s) in a copy of `df`, process with test_dl, average get_preds: the slow reference"
    return float(brute_force_preds(learn, df, values)[:, col].mean())


def test_slope_x0_raw_units(fit_learn):
    r = fit_learn.partial_dependence('x0')
    fct.test_eq(list(r.columns), ['value', 'average'])
    fct.test_close(np.polyfit(r.value, r.average, 1)[0], 2, eps=0.25)


def test_categorical_effects(fit_learn):
    r = fit_learn.partial_dependence('cat_a').set_index('value').average
    fct.test_eq(list(r.index), ['a', 'b', 'c'])
    fct.test_close((r - r['b'])[['a', 'b', 'c']].to_numpy(), [-1.5, 0, 1.5], eps=0.25)


def test_noise_is_flat(fit_learn):
    noise = fit_learn.partial_dependence('noise_cont').average
    signal = fit_learn.partial_dependence('x0').average
    assert noise.max() - noise.min() < 0.05 * (signal.max() - signal.min())
    cat = fit_learn.partial_dependence('noise_cat').average
    assert cat.max() - cat.min() < 0.2


@pytest.mark.parametrize('feature', ['x0', 'cat_a', 'noise_cat'])
def test_brute_force_regression(fit_learn, feature):
    r = fit_learn.partial_dependence(feature, grid_resolution=4)
    df = _valid_df(fit_learn)
    ref = [_brute_force(fit_learn, df, {feature: v}) for v in r.value]
    fct.test_close(r.average.to_numpy(), ref, eps=1e-5)


def test_brute_force_missing(na_learn):
    "FillMissing: a NaN grid value gets the fill value and x1_na=True, as test_dl does"
    grid = [-1., 0.5, np.nan]
    r = na_learn.partial_dependence('x1', grid)
    df = _valid_df(na_learn, missing=0.2)
    fct.test_close(r.average.to_numpy(), [_brute_force(na_learn, df, {'x1': v}) for v in grid], eps=1e-5)
    assert np.isnan(r.value[2])


def test_brute_force_classifier(clf_learn):
    r = clf_learn.partial_dependence('x0', grid_resolution=3)
    fct.test_eq(r.attrs['target'], 'pos')   # a binary classifier: the positive (second) class by default
    df = _valid_df(clf_learn, kind='classification')
    fct.test_close(r.average.to_numpy(), [_brute_force(clf_learn, df, {'x0': v}, col=1) for v in r.value], eps=1e-5)
    neg = clf_learn.partial_dependence('x0', grid_resolution=3, target='neg')
    fct.test_close(neg.average.to_numpy() + r.average.to_numpy(), np.ones(3), eps=1e-5)
    allc = clf_learn.partial_dependence('x0', grid_resolution=3, target='all', details=True)
    fct.test_eq(list(allc.frame.target), ['neg', 'pos'] * 3)
    fct.test_eq(allc.attrs['target'], ['neg', 'pos'])
    fct.test_eq(allc.ice.shape, (len(df), 6))
    fct.test_close(allc.frame.average.to_numpy()[1::2], r.average.to_numpy(), eps=1e-6)


def test_brute_force_two_way(fit_learn):
    r = fit_learn.partial_dependence(['cat_a', 'x1'], {'cat_a': ['a', 'c'], 'x1': [-1., 0., 2.]})
    df = _valid_df(fit_learn)
    ref = [_brute_force(fit_learn, df, {'cat_a': a, 'x1': b}) for a,b in zip(r.cat_a, r.x1)]
    fct.test_close(r.average.to_numpy(), ref, eps=1e-5)


def test_two_way_shapes(fit_learn):
    r = fit_learn.partial_dependence(('x0', 'cat_a'), grid_resolution=6, details=True, max_samples=50, seed=1)
    fct.test_eq(list(r.frame.columns), ['x0', 'cat_a', 'average'])
    fct.test_eq(len(r.frame), 6 * 3)
    fct.test_eq(list(r.frame.cat_a[:3]), ['a', 'b', 'c'])
    fct.test_eq(r.ice.shape, (50, 18))
    fct.test_eq(len(r.rows), 50)
    # the same 50 rows, averaged by the path without ICE
    plain = fit_learn.partial_dependence(('x0', 'cat_a'), grid_resolution=6, max_samples=50, seed=1)
    fct.test_close(plain.average.to_numpy(), r.frame.average.to_numpy(), eps=1e-6)
    same = fit_learn.partial_dependence(['x0', 'cat_a'], [None, ['b']], grid_resolution=6)
    fct.test_eq(list(same.cat_a), ['b'] * 6)
    # additive data: the surface is nearly the sum of the one-way curves
    sub = fit_learn.partial_dependence(['cat_a', 'x0'], grid_resolution=5).pivot(index='cat_a', columns='x0', values='average')
    assert (sub.loc['c'] - sub.loc['a']).std() < 0.2


def test_ice(fit_learn):
    r = fit_learn.partial_dependence('x1', details=True, grid_resolution=5)
    n = len(fit_learn.dls.valid.dataset)
    fct.test_eq(r.ice.shape, (n, 5))
    fct.test_eq(r.rows, None)
    # the same outputs averaged over rows in float64, from tensors of two shapes: equal to within float64 rounding
    fct.test_close(fit_learn.partial_dependence('x1', grid_resolution=5).average.to_numpy(), r.frame.average.to_numpy(), eps=1e-12)
    # each row's curve is that row's prediction with x1 set to each grid value, as test_dl + get_preds gives it
    df = _valid_df(fit_learn)
    ref = np.stack([brute_force_preds(fit_learn, df, {'x1': v})[:, 0] for v in r.frame.value], 1)
    fct.test_close(r.ice, ref, eps=1e-5)


def test_ice_rows_follow_subsample(fit_learn):
    "With max_samples, `rows` says which validation rows the ICE curves are, in order"
    r = fit_learn.partial_dependence('x0', [0.0, 1.0], details=True, max_samples=40, seed=2)
    fct.test_eq(r.ice.shape, (40, 2))
    df = _valid_df(fit_learn).iloc[r.rows]
    ref = np.stack([brute_force_preds(fit_learn, df, {'x0': v})[:, 0] for v in (0.0, 1.0)], 1)
    fct.test_close(r.ice, ref, eps=1e-5)


def test_grids(fit_learn):
    r = fit_learn.partial_dependence('x0', percentiles=(0.1, 0.9), grid_resolution=7)
    raw = raw_frame(fit_learn).x0
    fct.test_eq(len(r), 7)
    fct.test_close([r.value.min(), r.value.max()], raw.quantile([0.1, 0.9]).to_numpy(), eps=1e-6)
    fct.test_eq(list(fit_learn.partial_dependence('x0', [3, -1, 0]).value), [3, -1, 0])   # as given
    fct.test_eq(default_grid(np.arange(2000, 2100), grid_resolution=5), [2005, 2027, 2050, 2072, 2094])
    fct.test_eq(default_grid(np.r_[1., 2., 2., 3.], grid_resolution=20), [1., 2., 3.])


def test_raw_frame_restores_missing(na_learn):
    rf = raw_frame(na_learn)
    orig = _valid_df(na_learn, missing=0.2)
    fct.test_eq(rf.x1.isna().to_numpy(), orig.x1.isna().to_numpy())
    fct.test_close(rf.x1.fillna(0).to_numpy(), orig.x1.fillna(0).to_numpy(), eps=1e-5)
    fct.test_eq(list(rf.columns), ['cat_a', 'noise_cat', 'x0', 'x1', 'noise_cont'])
    fct.test_eq(list(rf.cat_a), list(orig.cat_a))


def test_bad_input(fit_learn, clf_learn):
    with pytest.raises(ArgumentError, match="Unknown feature 'nope'"): fit_learn.partial_dependence('nope')
    with pytest.raises(ArgumentError, match="Unknown feature 'nope'"): fit_learn.partial_dependence(['x0', 'nope'])
    with pytest.raises(ArgumentError, match=r"\['zz'\] is not a level of 'cat_a' in grid.*Known levels: \['a', 'b', 'c'\]"):
        fit_learn.partial_dependence('cat_a', ['a', 'zz'])
    with pytest.raises(ArgumentError, match='must hold numbers'): fit_learn.partial_dependence('x0', ['big'])
    with pytest.raises(ArgumentError, match='twice'): fit_learn.partial_dependence(['x0', 'x0'])
    with pytest.raises(ArgumentError, match='feature name or a pair'): fit_learn.partial_dependence(['x0', 'x1', 'cat_a'])
    with pytest.raises(ArgumentError, match='percentiles'): fit_learn.partial_dependence('x0', percentiles=(0.9, 0.1))
    with pytest.raises(ArgumentError, match='grid_resolution must be an int of at least 2'): fit_learn.partial_dependence('x0', grid_resolution=1)
    with pytest.raises(ArgumentError, match=r"Unknown target 'maybe'.*\['neg', 'pos'\]"): clf_learn.partial_dependence('x0', target='maybe')
    with pytest.raises(ArgumentError, match='out of range'): clf_learn.partial_dependence('x0', target=2)
    with pytest.raises(ArgumentError, match='not in the pair'): fit_learn.partial_dependence(['x0', 'x1'], {'x2': [1]})
    with pytest.raises(ArgumentError, match='list of raw values'): fit_learn.partial_dependence('cat_a', 'a')
    with pytest.raises(ArgumentError, match='no FillMissing'): fit_learn.partial_dependence('x0', [0., np.nan])
    with pytest.raises(ArgumentError, match='grid .* is empty'): fit_learn.partial_dependence('x0', [])


def test_not_tabular():
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    ds = list(zip(torch.randn(32, 2), torch.randn(32, 1)))
    learn = Learner(DataLoaders(DataLoader(ds, bs=8), DataLoader(ds, bs=8)), torch.nn.Linear(2, 1), loss_func=torch.nn.MSELoss())
    w = learn.model.weight[0, 0].item()   # a linear model: its partial dependence on x0 has slope w, in the tensor's units
    p = learn.partial_dependence('x0', grid=[0., 1.])
    fct.test_close(p.average[1] - p.average[0], w, eps=1e-5)
    fct.test_close(np.polyfit(learn.ale('a', names=['a', 'b']).value, learn.ale('a', names=['a', 'b']).ale, 1)[0], w, eps=1e-4)
    with pytest.raises(ArgumentError, match="Unknown feature 'x9'"): learn.partial_dependence('x9')


def test_no_side_effects(fit_learn):
    fit_learn.model.train()
    try:
        items = fit_learn.dls.valid.dataset.items.copy()
        py, npy, tch = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
        fit_learn.partial_dependence(['x0', 'cat_a'], max_samples=0.5, details=True)
        fit_learn.ale('x1', bins=5, max_samples=0.5)
        assert all(m.training for m in fit_learn.model.modules())
        pd.testing.assert_frame_equal(fit_learn.dls.valid.dataset.items, items)
        fct.test_eq(random.getstate(), py); fct.test_eq(np.random.get_state()[1], npy); fct.test_eq(torch.get_rng_state(), tch)
    finally: fit_learn.model.eval()


def test_plots(fit_learn, clf_learn):
    import matplotlib.axes
    one = fit_learn.partial_dependence('x0', details=True, grid_resolution=8)
    ax = plot_partial_dependence(one, n_ice=20)
    assert isinstance(ax, matplotlib.axes.Axes)
    fct.test_eq(len(ax.lines), 21)            # 20 ICE curves + the average
    fct.test_close(ax.lines[-1].get_ydata(), one.frame.average.to_numpy(), eps=1e-12)
    fct.test_eq(len(ax.collections), 1)       # the decile rug
    ax = plot_partial_dependence(one, ice=False, rug=False)
    fct.test_eq((len(ax.lines), len(ax.collections)), (1, 0))
    # categorical: one dot per level, sorted by effect (smallest at the bottom)
    cat = fit_learn.partial_dependence('cat_a')
    ax = plot_partial_dependence(cat)
    fct.test_eq(len(ax.lines), 1)
    fct.test_eq(len(ax.lines[0].get_xdata()), 3)
    fct.test_eq([t.get_text() for t in ax.get_yticklabels()], list(cat.sort_values('average').value))
    two = fit_learn.partial_dependence(['cat_a', 'x0'], grid_resolution=4)
    ax = plot_partial_dependence(two)
    fct.test_eq(ax.images[0].get_array().shape, (3, 4))
    fct.test_eq(ax.get_ylabel(), 'cat_a')
    allc = clf_learn.partial_dependence('cat_a', target='all')
    fct.test_eq(len(plot_partial_dependence(allc).lines), 2)   # one set of dots per class
    with pytest.raises(ArgumentError, match='details=True'): plot_partial_dependence(cat, ice=True)
    with pytest.raises(ArgumentError, match='one target'):
        plot_partial_dependence(clf_learn.partial_dependence(['cat_a', 'x0'], grid_resolution=2, target='all'))
    ax = plot_partial_dependence(fit_learn.ale('x0', bins=5))
    fct.test_eq(ax.get_ylabel(), 'accumulated local effect')


def test_ale(fit_learn):
    a = fit_learn.ale('x0', bins=5)
    fct.test_eq(list(a.columns), ['value', 'ale', 'count'])
    fct.test_close(np.polyfit(a.value, a.ale, 1)[0], 2, eps=0.3)
    # reference: per-row predictions at every edge by test_dl + get_preds, then the ALE formula of Apley & Zhu
    df = _valid_df(fit_learn)
    edges, x = a.value.to_numpy(), df.x0.to_numpy()
    P = np.stack([brute_force_preds(fit_learn, df, {'x0': e})[:, 0] for e in edges], 1)
    k = np.clip(np.searchsorted(edges, x, side='left'), 1, len(edges)-1)
    eff = np.array([(P[k==j, j] - P[k==j, j-1]).mean() for j in range(1, len(edges))])
    cnt = np.array([(k==j).sum() for j in range(1, len(edges))])
    acc = np.r_[0., np.cumsum(eff)]
    acc -= (cnt*(acc[:-1]+acc[1:])/2).sum()/cnt.sum()
    fct.test_close(a.ale.to_numpy(), acc, eps=1e-5)
    fct.test_eq(a['count'].to_numpy(), np.r_[0, cnt])
    fct.test_eq(int(a['count'].sum()), len(df))
    # additive model: ALE is PD up to a constant
    pdv = fit_learn.partial_dependence('x0', list(edges)).average.to_numpy()
    assert np.std(pdv - acc) < 0.1
    with pytest.raises(ArgumentError, match='categorical'): fit_learn.ale('cat_a')
    with pytest.raises(ArgumentError, match=r'bins must be an int in \[1, 10000\]'): fit_learn.ale('x0', bins=0)


def test_ale_missing(na_learn):
    a = na_learn.ale('x1', bins=4)
    fct.test_eq(a.attrs['n_rows'], int(raw_frame(na_learn).x1.notna().sum()))
    fct.test_eq(int(a['count'].sum()), a.attrs['n_rows'])
    assert not a.ale.isna().any()


def test_targets_rule():
    "One rule for `target=`, on stand-ins for a 3-class classifier, a 2-output regressor and a binary classifier"
    from types import SimpleNamespace as NS
    multi = NS(dls=NS(vocab=CategoryMap(['a', 'b', 'c'])))
    with pytest.raises(ArgumentError, match="no single predicted class; pass target= one of them, or all"):
        averaged_targets(multi, None, 3, allow_all=True)
    fct.test_eq(resolve_target(multi, None, 3), None)   # per-row predicted class, where that means something
    fct.test_eq(averaged_targets(multi, 'c', 3), ([2], ['c']))
    fct.test_eq(averaged_targets(multi, -1, 3), ([2], ['c']))
    fct.test_eq(averaged_targets(multi, 'all', 3, allow_all=True), ([0, 1, 2], ['a', 'b', 'c']))
    with pytest.raises(ArgumentError, match="target='all' is for partial dependence"): averaged_targets(multi, 'all', 3)
    fct.test_eq(averaged_targets(NS(dls=NS(vocab=CategoryMap(['neg', 'pos']))), None, 2), ([1], ['pos']))
    reg2 = NS(dls=NS(vocab=None, y_names=['p', 'q']))
    fct.test_eq(averaged_targets(reg2, 'q', 2), ([1], ['q']))
    fct.test_eq(averaged_targets(reg2, 0, 2), ([0], ['p']))
    with pytest.raises(ArgumentError, match=r"2 outputs \['p', 'q'\]; pass target="): averaged_targets(reg2, None, 2)
    fct.test_eq(averaged_targets(NS(dls=NS(vocab=None, y_names=['y'])), None, 1), ([0], ['y']))
    fct.test_eq(averaged_targets(NS(dls=NS(vocab=None, y_names=['y'])), 1, 2), ([1], ['output_1']))   # unnamed outputs
    with pytest.raises(ArgumentError, match='out of range'): averaged_targets(reg2, -3, 2)
    with pytest.raises(ArgumentError, match='out of range'): averaged_targets(reg2, 2, 2)
