"Permutation importance: ground truth, agreement with scikit-learn, reproducibility, no side effects, bad input, plot."
import random
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from scipy.stats import spearmanr
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.inspection import permutation_importance as sk_permutation_importance
from fastai.tabular.all import TabularDataLoaders, tabular_learner, Categorify, Normalize, accuracy, rmse, error_rate
from fastinterp.all import *
from fastinterp.synth import synth_df
from helpers import SIGNAL, NOISE, imp as _imp


# --- ground truth ---------------------------------------------------------------------------------------------------
def test_regression_loss_ground_truth(reg_learn):
    fi = reg_learn.feature_importance(seed=0)
    fct.test_eq(list(fi.columns), ['feature', 'importance', 'std', 'se', 'ci_low', 'ci_high'])
    fct.test_eq(set(fi.feature[:3]), SIGNAL)
    imp = _imp(fi)
    assert imp[NOISE].abs().max() < 0.05 * imp['x0']
    # y = 2*x0 + ...: shuffling x0 adds E[(2x0 - 2x0')^2] = 8 to the MSE for a perfect fit
    fct.test_close(imp['x0'], 8.0, eps=1.6)
    fct.test_close(imp['x1'], 2.0, eps=0.5)
    # the baseline is the exact full-set loss, as fastai's validate reports it
    with reg_learn.no_bar(): fct.test_close(fi.attrs['baseline'], reg_learn.validate()[0], eps=1e-4)
    # the interval is informative: it excludes 0 for every signal feature, and is narrower than the effect
    ci = fi.set_index('feature')
    assert (ci.loc[list(SIGNAL), 'ci_low'] > 0).all(), ci
    assert ((ci.ci_high - ci.ci_low) > 0).all()
    fct.test_eq(fi.attrs['interval'], '95%, validation rows as a sample')


def test_classification_accuracy_ground_truth(clf_learn):
    fi = clf_learn.feature_importance(metric=accuracy, seed=0)
    fct.test_eq(fi.attrs['higher_is_better'], True)
    fct.test_eq(set(fi.feature[:3]), SIGNAL)
    imp = _imp(fi)
    assert imp['x0'] > 0.2 and imp[NOISE].abs().max() < 0.03
    assert fi[['ci_low', 'ci_high']].isna().all().all()   # full-set metric: no per-row interval
    fct.test_eq(fi.attrs['interval'], None)
    # error_rate is lower-is-better: same importances, in its own units
    fe = clf_learn.feature_importance(metric=error_rate, seed=0)
    fct.test_eq(fe.attrs['higher_is_better'], False)
    fct.test_close(_imp(fe)[imp.index].values, imp.values, eps=1e-6)


def test_metric_kinds_agree(reg_learn):
    "rmse as fastai's AccumMetric, a plain function and an explicit direction all give the same numbers"
    a = reg_learn.feature_importance(metric=rmse, n_repeats=2, seed=1)
    b = reg_learn.feature_importance(metric=lambda p, t: torch.sqrt(((p.view(-1) - t.view(-1))**2).mean()),
                                     higher_is_better=False, n_repeats=2, seed=1)
    fct.test_close(_imp(a)[_imp(b).index].values, _imp(b).values, eps=1e-4)
    fct.test_eq(a.attrs['score'], '_rmse')   # fastai's own name for it, as in the Recorder's table
    with reg_learn.no_bar(): fct.test_close(a.attrs['baseline'], reg_learn.validate()[1], eps=1e-4)


# --- agreement with scikit-learn -------------------------------------------------------------------------------------
class _TabularModelEstimator(BaseEstimator, RegressorMixin):
    "The learner's model on the processed matrix [cats | conts], for sklearn.inspection"
    def __init__(self, model=None, n_cat=0): self.model, self.n_cat = model, n_cat
    def fit(self, X, y): return self
    def predict(self, X):
        X = torch.as_tensor(np.asarray(X, dtype=np.float32))
        self.model.eval()
        with torch.no_grad(): return self.model(X[:, :self.n_cat].long(), X[:, self.n_cat:]).view(-1).numpy()


def test_agrees_with_sklearn(reg_learn):
    es = reg_learn.eval_set()
    cats, conts = es.xs
    X = torch.cat([cats.float(), conts], 1).numpy()
    y = es.ys[0].view(-1).numpy()
    est = _TabularModelEstimator(reg_learn.model, cats.shape[1])
    sk = sk_permutation_importance(est, X, y, scoring='neg_mean_squared_error', n_repeats=10, random_state=0)
    names = list(reg_learn.dls.cat_names) + list(reg_learn.dls.cont_names)
    sk_imp = pd.Series(sk.importances_mean, index=names)
    ours = _imp(reg_learn.feature_importance(es, n_repeats=10, seed=0))[names]
    rho = spearmanr(sk_imp.values, ours.values).statistic
    assert rho > 0.85, (rho, sk_imp, ours)
    # same units (increase in MSE): the signal features agree within a few percent
    for f in SIGNAL: fct.test_close(ours[f], sk_imp[f], eps=0.1 * sk_imp[f])
    for f in NOISE: assert abs(ours[f] - sk_imp[f]) < 0.02


# --- reproducibility -------------------------------------------------------------------------------------------------
def test_seed_reproducible(reg_learn):
    a = reg_learn.feature_importance(n_repeats=2, seed=3, details=True)
    b = reg_learn.feature_importance(n_repeats=2, seed=3, details=True)
    c = reg_learn.feature_importance(n_repeats=2, seed=4, details=True)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    np.testing.assert_array_equal(a.importances, b.importances)
    assert not np.array_equal(a.importances, c.importances)
    fct.test_eq(a.importances.shape, (5, 2))
    np.testing.assert_allclose(a.importances.mean(1), a.frame.importance.to_numpy())   # in the table's order
    d = reg_learn.feature_importance(n_repeats=2)   # no seed: one is drawn and reported
    e = reg_learn.feature_importance(n_repeats=2, seed=d.attrs['seed'])
    pd.testing.assert_frame_equal(d, e)


def test_batch_size_does_not_change_result(reg_learn):
    a = reg_learn.feature_importance(n_repeats=2, seed=0, bs=8192)
    for bs in (7, 100, 499, 5000):
        b = reg_learn.feature_importance(n_repeats=2, seed=0, bs=bs)
        fct.test_close(a.importance.values, b.importance.values, eps=1e-4)


def test_max_samples(reg_learn):
    n = len(reg_learn.dls.valid.dataset)
    fct.test_eq(reg_learn.feature_importance(max_samples=100, n_repeats=1, seed=0).attrs['n_rows'], 100)
    fct.test_eq(reg_learn.feature_importance(max_samples=0.5, n_repeats=1, seed=0).attrs['n_rows'], round(n/2))
    fct.test_eq(reg_learn.feature_importance(max_samples=10**6, n_repeats=1, seed=0).attrs['n_rows'], n)
    r = reg_learn.feature_importance(max_samples=100, n_repeats=1, seed=0, details=True)
    fct.test_eq(len(r.rows), 100)
    assert (np.diff(r.rows) > 0).all() and r.rows.max() < n


def test_eval_set_reused(reg_learn):
    "An EvalSet read once gives what the same rows give through the DataLoader"
    es = reg_learn.eval_set()
    pd.testing.assert_frame_equal(reg_learn.feature_importance(es, n_repeats=2, seed=0),
                                  reg_learn.feature_importance(n_repeats=2, seed=0))
    sub = reg_learn.eval_set(max_samples=120, seed=2)
    fct.test_eq(len(sub), 120)
    fct.test_eq(reg_learn.feature_importance(sub, n_repeats=1, seed=0).attrs['n_rows'], 120)


# --- groups and FillMissing -------------------------------------------------------------------------------------------
def test_groups(reg_learn):
    fi = reg_learn.feature_importance(groups={'pair': ['x0', 'x1'], 'noise': ['noise_cont', 'noise_cat']}, seed=0)
    fct.test_eq(sorted(fi.feature), sorted(['pair', 'noise', 'cat_a']))
    imp, single = _imp(fi), _imp(reg_learn.feature_importance(seed=0))
    # jointly shuffled, x0 and x1 cost at least what each costs alone (independent features: about the sum)
    fct.test_close(imp['pair'], single['x0'] + single['x1'], eps=0.15 * imp['pair'])
    assert abs(imp['noise']) < 0.05
    with pytest.raises(ArgumentError, match=r"Unknown feature 'nope' in group 'g'.*Valid features"):
        reg_learn.feature_importance(groups={'g': ['x0', 'nope']})
    with pytest.raises(ArgumentError, match="is in groups"):
        reg_learn.feature_importance(groups={'g': ['x0'], 'h': ['x0', 'x1']})
    with pytest.raises(ArgumentError, match="is empty"): reg_learn.feature_importance(groups={'g': []})


def test_fill_missing_indicator_joins_parent(na_learn):
    assert 'x1_na' in na_learn.dls.cat_names
    r = na_learn.feature_importance(seed=0, details=True)
    fct.test_eq(sorted(r.frame.feature), sorted(['x0', 'x1', 'noise_cont', 'cat_a', 'noise_cat']))
    cols = r.features['x1']
    fct.test_eq(sorted(cols), [(0, na_learn.dls.cat_names.index('x1_na')), (1, na_learn.dls.cont_names.index('x1'))])


def test_name_containing_na_is_kept():
    "the forum's `'_na' not in name` filter drops `country_name`; fastinterp keeps it"
    df = synth_df(600).rename(columns={'noise_cat': 'country_name'})
    dls = TabularDataLoaders.from_df(df, y_names='y', cat_names=['cat_a', 'country_name'], cont_names=['x0', 'x1', 'noise_cont'],
                                     procs=[Categorify, Normalize], bs=128)
    learn = tabular_learner(dls, layers=[8])
    assert 'country_name' in set(learn.feature_importance(n_repeats=1, seed=0).feature)


# --- generic learners ------------------------------------------------------------------------------------------------
def _generic_learner(two_inputs=False):
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.losses import MSELossFlat
    g = torch.Generator().manual_seed(0)
    X = torch.randn(600, 4, generator=g)
    Y = (3 * X[:, 0] - 2 * X[:, 3]).unsqueeze(1)
    class Two(torch.nn.Module):
        def __init__(self): super().__init__(); self.lin = torch.nn.Linear(4, 1)
        def forward(self, a, b): return self.lin(torch.cat([a, b], 1))
    if two_inputs: ds, model = [(x[:2], x[2:], y) for x, y in zip(X, Y)], Two()
    else: ds, model = list(zip(X, Y)), torch.nn.Linear(4, 1)
    torch.manual_seed(0)
    dls = DataLoaders(DataLoader(ds[:450], bs=50, shuffle=True), DataLoader(ds[450:], bs=50))
    if two_inputs: dls.n_inp = 2
    learn = Learner(dls, model, loss_func=MSELossFlat(), lr=0.1)
    with learn.no_bar(), learn.no_logging(): learn.fit(15)
    return learn


def test_generic_learner_one_input():
    learn = _generic_learner()
    fi = learn.feature_importance(seed=0, n_repeats=3)
    fct.test_eq(list(fi.feature[:2]), ['x0', 'x3'])
    fi = learn.feature_importance(names=['a', 'b', 'c', 'd'], seed=0, n_repeats=3)
    fct.test_eq(list(fi.feature[:2]), ['a', 'd'])
    fct.test_close(_imp(fi)['a'], 2 * 9, eps=4)   # E[(3x - 3x')^2] = 18
    with pytest.raises(ArgumentError, match='one name per column'): learn.feature_importance(names=['a'])
    with pytest.raises(ArgumentError, match='duplicates'): learn.feature_importance(names=['a', 'a', 'b', 'c'])


def test_generic_learner_two_inputs():
    learn = _generic_learner(two_inputs=True)
    fi = learn.feature_importance(seed=0, n_repeats=2, groups={'first_input': ['x0', 'x1']})
    fct.test_eq(set(fi.feature), {'first_input', 'x2', 'x3'})
    fct.test_eq(fi.feature[0], 'first_input')


# --- nothing the user owns is changed ---------------------------------------------------------------------------------
def test_no_side_effects(reg_learn):
    learn = reg_learn
    items = learn.dls.valid.items.copy()
    state = {k: v.clone() for k, v in learn.model.state_dict().items()}
    learn.model.train(); learn.model.bn_cont.eval()   # a mixed mode, as when a user freezes BatchNorm
    try:
        modes = [m.training for m in learn.model.modules()]
        loss_red = learn.loss_func.reduction
        dl_rng = learn.dls.valid.rng.getstate()
        random.seed(1); np.random.seed(1); torch.manual_seed(1)
        rng = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone()
        learn.feature_importance(n_repeats=2, max_samples=0.5, groups={'g': ['x0', 'x1']})
        learn.feature_importance(metric=rmse, n_repeats=1, seed=0)
        learn.feature_importance(valid_df := synth_df(300, seed=9), n_repeats=1, seed=0)
        fct.test_eq(random.getstate(), rng[0])
        np.testing.assert_array_equal(np.random.get_state()[1], rng[1])
        assert torch.equal(torch.get_rng_state(), rng[2])
        pd.testing.assert_frame_equal(learn.dls.valid.items, items)
        pd.testing.assert_frame_equal(valid_df, synth_df(300, seed=9))
        fct.test_eq(learn.dls.valid.rng.getstate(), dl_rng)
        for k, v in learn.model.state_dict().items(): assert torch.equal(v, state[k]), k
        fct.test_eq([m.training for m in learn.model.modules()], modes)
        fct.test_eq(learn.loss_func.reduction, loss_red)
    finally: learn.model.eval()


def test_no_bar_is_silent(reg_learn, capsys):
    with reg_learn.no_bar(): reg_learn.feature_importance(n_repeats=1, seed=0)
    fct.test_eq(capsys.readouterr().out, '')


# --- bad input -------------------------------------------------------------------------------------------------------
def test_bad_arguments(reg_learn):
    for n in (0, -1, 2.5, True):
        with pytest.raises(ArgumentError, match='n_repeats must be a positive int'): reg_learn.feature_importance(n_repeats=n)
    for m in (0.0, 1.5, -0.2, 0, 'all', True):
        with pytest.raises(ArgumentError, match=r'max_samples must be None \(every row\), an int number of rows >= 1 or a float fraction in \(0, 1\]'):
            reg_learn.feature_importance(max_samples=m)
    with pytest.raises(ArgumentError, match='groups must be a dict'): reg_learn.feature_importance(groups=['x0'])
    with pytest.raises(ArgumentError, match='metric must be'): reg_learn.feature_importance(metric='rmse')
    with pytest.raises(ArgumentError, match='threshold must be a number in'):
        reg_learn.feature_importance(groups='auto', threshold=1.5)
    # one family of exceptions, that old `except ValueError` / `except TypeError` code still catches
    assert issubclass(ArgumentError, ValueError) and issubclass(ArgumentError, TypeError)
    assert issubclass(ArgumentError, FastinterpError) and issubclass(DataError, FastinterpError)
    assert issubclass(DataError, ValueError)


def test_failing_metric_names_the_problem(reg_learn):
    def needs_labels(preds, targs): return (preds.argmax(1) == targs.long().view(-1)).float().mean() + targs.foo
    with pytest.raises(ArgumentError, match=r"metric 'needs_labels' failed on the model's predictions \(shape \(500, 1\)"):
        reg_learn.feature_importance(metric=needs_labels, higher_is_better=True)


def test_empty_validation_set():
    df = synth_df(300)
    dls = TabularDataLoaders.from_df(df, y_names='y', cat_names=['cat_a'], cont_names=['x0'], procs=[Categorify, Normalize],
                                     valid_idx=[], bs=64)
    learn = tabular_learner(dls, layers=[8])
    with pytest.raises(DataError, match=r'no validation data .* Pass `dl=`'): learn.feature_importance()


def test_unlabelled_dl(reg_learn):
    dl = reg_learn.dls.test_dl(synth_df(50, seed=5).drop(columns='y'))
    with pytest.raises(DataError, match=r'no targets.*with_labels=True'): reg_learn.feature_importance(dl=dl)
    fi = reg_learn.feature_importance(dl=reg_learn.dls.test_dl(synth_df(300, seed=5), with_labels=True), seed=0)
    fct.test_eq(fi.attrs['n_rows'], 300)


# --- plot ------------------------------------------------------------------------------------------------------------
def test_plot_importance(reg_learn):
    fi = reg_learn.feature_importance(n_repeats=2, seed=0)
    ax = plot_importance(fi, top_k=3)
    fct.test_eq(len(ax.patches), 3)
    fct.test_eq(ax.get_yticklabels()[-1].get_text(), fi.feature[0])
    fct.test_close([p.get_width() for p in ax.patches], fi.importance[:3][::-1].to_numpy(), eps=1e-12)
    assert 'mse' in ax.get_xlabel().lower() or 'loss' in ax.get_xlabel().lower()
    with pytest.raises(ArgumentError, match=r"without the columns \['importance'\]"): plot_importance(fi.drop(columns='importance'))
    with pytest.raises(ArgumentError, match="error must be"): plot_importance(fi, error='sem')


@pytest.mark.parametrize('error', ['ci', 'std'])
def test_plot_importance_error_bars(reg_learn, error):
    "The error bars reach exactly ci_low..ci_high (error='ci') or importance -/+ std (error='std'), bar by bar"
    fi = reg_learn.feature_importance(n_repeats=3, seed=0, details=True)
    ax = plot_importance(fi, error=error)   # a Result works as well as its frame
    d = fi.frame.iloc[::-1]                 # most important on top: the last bar drawn
    lo, hi = (d.ci_low, d.ci_high) if error == 'ci' else (d.importance - d['std'], d.importance + d['std'])
    from matplotlib.container import ErrorbarContainer
    eb = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    fct.test_eq(len(eb), 1)
    segs = eb[0].lines[2][0].get_segments()
    fct.test_eq(len(segs), len(fi.frame))
    fct.test_close(np.array([s[:, 0].min() for s in segs]), lo.to_numpy(), eps=1e-9)
    fct.test_close(np.array([s[:, 0].max() for s in segs]), hi.to_numpy(), eps=1e-9)
    fct.test_close(np.array([s[0, 1] for s in segs]), np.arange(len(fi.frame)), eps=1e-12)   # bar k's y position
