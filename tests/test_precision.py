"""Precision on request (issue 21): the standard errors of sampled Shapley values and of permutation importance are
calibrated against ground truth (exact Shapley values; a 500-repeat reference), `tol=` and `time_limit=` stop where
they say (under a ticking clock, so on any machine), and under torch.distributed every rank takes the same stopping
decisions (the 2-rank launch of tests/dist_worker.py that tests/test_distributed.py shares, conftest's `dist_run`).
"""
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastinterp.all import *
from fastinterp.checks import ArgumentError
from fastinterp.shapley import shapley_values, exact_shapley, MAX_WALKS
from fastinterp.evalset import materialize
from fastinterp.inputs import tabular_features
from fastinterp.outputs import activation
from fastinterp.guard import generator
from fastinterp.synth import synth_df
from helpers import valid_df, tiny, quiet_fit, ticking_clock
import dist_worker


def _coverage(est, truth, se):
    "Share of values within 1.96 standard errors of the truth (values whose truth and se are both 0 left out: nothing sampled)"
    est, truth, se = map(np.asarray, (est, truth, se))
    keep = ~((se == 0) & (np.abs(est - truth) < 1e-12))
    return float(np.mean((np.abs(est - truth) <= 1.96 * se)[keep]))


def _mlp(n_features=10, seed=0):
    "A random tanh network with strong interactions of every order, on one input of `n_features` columns"
    g = generator(seed)
    m = torch.nn.Sequential(torch.nn.Linear(n_features, 32), torch.nn.Tanh(), torch.nn.Linear(32, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    with torch.no_grad():
        for p in m.parameters(): p.copy_(torch.randn(p.shape, generator=g) * (2. / p.shape[-1]**0.5 if p.dim() > 1 else 0.5))
    x = torch.randn(60, n_features, generator=g)
    return m.eval(), x, {f'x{k}': [(0, k)] for k in range(n_features)}


def _tab(learn, n_rows=30, n_bg=40):
    xs, _ = materialize(learn.dls.valid)
    return tuple(x[:n_rows] for x in xs), tuple(x[200:200 + n_bg] for x in xs), tabular_features(learn.dls.valid)


# ---------------------------------------------------------------- Shapley values: se calibrated against exact values
@pytest.mark.parametrize('n_samples', [4, 5, 8, 16])
def test_shapley_se_covers_exact_mlp(n_samples):
    "A network with interactions of every order: |estimate - exact| <= 1.96 se for about 95% of the values, over 25 seeds"
    m, x, feats = _mlp()
    rows, bg = (x[:20],), (x[20:],)
    ex = exact_shapley(m, rows, bg, feats)['contributions']
    runs = [shapley_values(m, rows, bg, feats, exact=False, n_samples=n_samples, seed=s) for s in range(25)]
    cov = _coverage([r['contributions'] for r in runs], [ex] * 25, [r['se'] for r in runs])
    assert 0.925 <= cov <= 0.975, cov
    # the se is the spread of the estimate: its rms over seeds is within 25% of the errors' (it is widened a little for its own uncertainty)
    err = np.sqrt(np.mean([(r['contributions'] - ex)**2 for r in runs], 0)).mean()
    se = np.sqrt(np.mean([r['se']**2 for r in runs], 0)).mean()
    assert 0.8 <= se / err <= 1.3, (se, err)


@pytest.mark.parametrize('which', ['reg_learn', 'clf_learn'])
def test_shapley_se_covers_exact_tabular(which, request):
    "TabularModels through the shortcut (a softmax output for the classifier): the same coverage, default 4 walks and 8 (quartets)"
    learn = request.getfixturevalue(which)
    rows, bg, feats = _tab(learn)
    kw = dict(target=torch.tensor([0, 1] * 15), act=activation(learn)) if which == 'clf_learn' else {}
    ex = exact_shapley(learn.model, rows, bg, feats, **kw)['contributions']
    for P in (4, 8):
        runs = [shapley_values(learn.model, rows, bg, feats, exact=False, n_samples=P, seed=s, **kw) for s in range(20)]
        cov = _coverage([r['contributions'] for r in runs], [ex] * 20, [r['se'] for r in runs])
        assert 0.92 <= cov <= 0.98, (which, P, cov)


def test_shapley_se_covers_many_walk_reference():
    "16 features, too many to enumerate: the reference is 2000 walks per pair (its own se is 1/22 of a 4-walk estimate's)"
    m, x, feats = _mlp(16, seed=1)
    rows, bg = (x[:12],), (x[30:60],)
    ref = shapley_values(m, rows, bg, feats, exact=False, n_samples=2000, seed=10**6)
    runs = [shapley_values(m, rows, bg, feats, exact=False, seed=s) for s in range(20)]
    assert (ref['se'] < 0.1 * np.mean([r['se'] for r in runs], 0)).all()
    cov = _coverage([r['contributions'] for r in runs], [ref['contributions']] * 20, [r['se'] for r in runs])
    assert 0.925 <= cov <= 0.975, cov


def test_quartets_lower_the_error():
    "From 8 walks per pair the walks come in stratified quartets: less error at the same walks than antithetic pairs only"
    m, x, feats = _mlp(12, seed=2)
    rows, bg = (x[:15],), (x[30:60],)
    ex = exact_shapley(m, rows, bg, feats)['contributions']
    err = {st: np.mean([np.abs(shapley_values(m, rows, bg, feats, exact=False, n_samples=16, seed=s, stratified=st)['contributions'] - ex).mean()
                        for s in range(8)]) for st in (True, False)}
    assert err[True] < 0.95 * err[False], err


def test_exact_and_unsampled_se(reg_learn):
    "Enumerated values have se 0; one antithetic pair per background row has no spread to measure (NaN); null players 0"
    rows, bg, feats = _tab(reg_learn)
    fct.test_eq(exact_shapley(reg_learn.model, rows, bg, feats)['se'], np.zeros((30, 5)))
    fct.test_eq(shapley_values(reg_learn.model, rows, bg, feats)['se'], np.zeros((30, 5)))        # 5 features: enumerated
    assert np.isnan(shapley_values(reg_learn.model, rows, bg, feats, exact=False, n_samples=2)['se']).all()
    one = tuple(x[:1] for x in rows)
    fct.test_eq(shapley_values(reg_learn.model, one, one, feats, exact=False)['se'], np.zeros((1, 5)))


# ---------------------------------------------------------------- tol and time_limit on Shapley values
def _spans(learn, df, bg):
    "Each row's mean |prediction - prediction on a background row|, from get_preds (the scale `tol` is relative to)"
    with learn.no_bar():
        p = learn.get_preds(dl=learn.dls.test_dl(df))[0][:, 0].double().numpy()
        b = learn.get_preds(dl=learn.dls.test_dl(bg))[0][:, 0].double().numpy()
    return np.abs(p[:, None] - b[None]).mean(1)


def test_tol_explain(reg_learn):
    "tol: rows sampled until their largest se is below tol x their span; only the rows that need it get more walks"
    df, bg = synth_df(70, seed=4).drop(columns='y'), synth_df(40, seed=5)
    e = reg_learn.explain(df, background=bg, exact=False, tol=0.001, seed=0, details=True)
    span = _spans(reg_learn, df, bg)
    se = e.se.max(1)
    assert (se <= 0.001 * span * (1 + 1e-9)).all()
    assert e.met.all() and e.attrs['tol_met'] is True
    assert e.walks.min() == 4 and e.walks.max() > 4, e.walks          # some rows met it with the first 4 walks, others did not
    fct.test_eq(e.attrs['walks'], dict(min=int(e.walks.min()), mean=float(e.walks.mean()), max=int(e.walks.max())))
    fct.test_eq((e.attrs['tol'], e.attrs['time_limit'], e.attrs['n_samples']), (0.001, None, 4))
    # the se column is the Result's se, row by row in the table's order
    f = e.frame.set_index(['row', 'feature'])['se']
    np.testing.assert_array_equal(np.array([[f[(r, c)] for c in e.features] for r in df.index]), e.se)
    # exactly additive still, and closer to the exact values than the default's 4 walks
    np.testing.assert_allclose(e.base + e.contributions.sum(1), e.prediction, atol=1e-9)
    ex = reg_learn.explain(df, background=bg, exact=True, details=True).contributions
    d4 = reg_learn.explain(df, background=bg, exact=False, seed=0, details=True).contributions
    assert np.abs(e.contributions - ex).mean() < 0.8 * np.abs(d4 - ex).mean()
    # seeded: reproducible
    fct.test_eq(reg_learn.explain(df, background=bg, exact=False, tol=0.001, seed=0), e.frame)


def test_tol_shapley_values_unreachable():
    "A target no finite sample reaches stops at MAX_WALKS, reported as not met"
    m, x, feats = _mlp(8)
    r = shapley_values(m, (x[:2],), (x[10:20],), feats, exact=False, tol=1e-9, seed=0)
    fct.test_eq(r['walks'].tolist(), [MAX_WALKS] * 2)
    assert not r['met'].any()


def test_time_limit(reg_learn):
    "time_limit alone is a budget: no round starts after it; the walks go to the rows with the largest se first"
    df, bg = synth_df(128, seed=4).drop(columns='y'), synth_df(40, seed=5)
    with ticking_clock(1.0):   # the first round's end is already past the limit: no second round
        first = reg_learn.explain(df, background=bg, exact=False, time_limit=1.5, seed=0, details=True)
    assert (first.walks == 4).all()
    with ticking_clock(0.3):   # a few rounds fit in 2 seconds
        e = reg_learn.explain(df, background=bg, exact=False, time_limit=2.0, seed=0, details=True)
    assert e.walks.min() > 4 and e.attrs['tol_met'] is None and e.met is None
    d = reg_learn.explain(df, background=bg, exact=False, seed=0, details=True)
    assert (e.se.max(1) < d.se.max(1)).all()
    # with tol too: whichever comes first
    with ticking_clock(0.3):
        e2 = reg_learn.explain(df, background=bg, exact=False, tol=1e-7, time_limit=0.5, seed=0, details=True)
    assert e2.attrs['tol_met'] is False and (e2.walks < MAX_WALKS).mean() > 0.5   # stopped by the clock, most rows short of the cap


def test_tol_tensor_learner():
    "A Learner over tensor rows takes tol= too (explain_tensor_rows)"
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.losses import MSELossFlat
    m, x, _ = _mlp(7)
    with torch.no_grad(): y = m(x)
    ds = list(zip(x, y))
    learn = Learner(DataLoaders(DataLoader(ds[:40], bs=8), DataLoader(ds[40:], bs=20)), m, loss_func=MSELossFlat())
    e = learn.explain(x[:3], tol=0.01, seed=0, n_background=20, details=True)
    assert e.met.all() and (e.se.max(1) <= 0.01 * np.abs(e.prediction[:, None] - y[40:, 0].numpy()[None]).mean(1) + 1e-12).all()


def test_bad_input(reg_learn):
    df = synth_df(5, seed=4).drop(columns='y')
    for bad in (0, -0.1, 'a', float('nan'), True, float('inf')):
        with pytest.raises(ArgumentError, match='tol must be a number in'): reg_learn.explain(df, exact=False, tol=bad)
        with pytest.raises(ArgumentError, match='tol must be a number in'): reg_learn.feature_importance(tol=bad)
    for bad in (0, -1, 'soon'):
        with pytest.raises(ArgumentError, match='time_limit must be a number in'): reg_learn.explain(df, exact=False, time_limit=bad)
        with pytest.raises(ArgumentError, match='time_limit must be a number in'): reg_learn.feature_importance(time_limit=bad)
    with pytest.raises(ArgumentError, match='exact=True enumerates every coalition.*pass exact=False'): reg_learn.explain(df, exact=True, tol=0.01)
    with pytest.raises(ArgumentError, match='exact=True'): reg_learn.explain(df, exact=True, time_limit=1)
    with pytest.raises(ArgumentError, match="tol= and time_limit= are for method='shapley'.*FeatureAblation"):
        reg_learn.explain(df, method='ablation', tol=0.01)
    import captum.attr as ca
    with pytest.raises(ArgumentError, match="KernelShap estimates none"): reg_learn.explain(df, method=ca.KernelShap, time_limit=2)
    with pytest.raises(ArgumentError, match='at least 4 walks per pair.*n_samples>=4'): reg_learn.explain(df, exact=False, tol=0.01, n_samples=3)
    with pytest.raises(ArgumentError, match='at least 2 repeats.*n_repeats>=2'): reg_learn.feature_importance(tol=0.01, n_repeats=1)
    # with 5 features the default enumerates: tol has nothing to stop, which is no error
    e = reg_learn.explain(df, tol=0.01, seed=0)
    assert e.attrs['exact'] and e.attrs['tol'] is None and (e.se == 0).all()


def test_captum_se_is_nan(reg_learn):
    e = reg_learn.explain(synth_df(3, seed=4).drop(columns='y'), method='ablation', seed=0)
    assert e['se'].isna().all() and e.attrs['walks'] is None


# ---------------------------------------------------------------- permutation importance
def test_importance_se_covers_500_repeats(reg_learn):
    "|importance(R repeats) - importance(500 repeats)| <= 1.96 se for about 95% of (feature, seed), R = 3, 5 and 10"
    ref = reg_learn.feature_importance(n_repeats=500, seed=10**6).set_index('feature')['importance']
    for R in (3, 5, 10):
        fis = [reg_learn.feature_importance(n_repeats=R, seed=s).set_index('feature').loc[ref.index] for s in range(40)]
        cov = _coverage([f['importance'] for f in fis], [ref] * 40, [f['se'] for f in fis])
        assert 0.9 <= cov <= 0.99, (R, cov)
        # std is the spread of one repeat (ddof 0, as scikit-learn's importances_std); se that of the mean, widened by t(R-1)/1.96
        from scipy import stats
        f = fis[0]
        np.testing.assert_allclose(f['se'], f['std'] * np.sqrt(R / (R - 1)) / np.sqrt(R) * stats.t.ppf(0.975, R - 1) / 1.959963984540054)


def test_importance_tol(reg_learn):
    "tol: repeats added to the features whose se is above tol x the largest importance, until none is"
    fi = reg_learn.feature_importance(n_repeats=3, tol=0.005, seed=0, details=True)
    t = fi.frame
    assert (t['se'] <= 0.005 * t['importance'].abs().max()).all() and t.attrs['tol_met'] is True
    reps = fi.repeats
    assert reps.min() >= 3 and reps.max() > reps.min(), reps      # not every feature needed the same
    fct.test_eq(t.attrs['repeats'], dict(zip(t['feature'], reps.tolist())))
    fct.test_eq((~np.isnan(fi.importances)).sum(1), reps)
    np.testing.assert_allclose(np.nanmean(fi.importances, 1), t['importance'])
    # the repeats of a feature are the ones its first round would have had, and more of them (derived_seed(seed, f, r))
    f3 = reg_learn.feature_importance(n_repeats=3, seed=0, details=True)
    np.testing.assert_allclose(fi.importances[:, :3], f3.importances[[list(f3.frame.feature).index(f) for f in t.feature]])
    fct.test_eq(reg_learn.feature_importance(n_repeats=3, tol=0.005, seed=0), t)    # reproducible


def test_importance_time_limit(reg_learn):
    "time_limit alone: more repeats while the clock allows, none once it is past (a ticking clock: the same on any machine)"
    with ticking_clock(1.0): fi = reg_learn.feature_importance(time_limit=1.5, seed=0, details=True)
    assert (fi.repeats == 5).all()
    with ticking_clock(0.3): fi = reg_learn.feature_importance(time_limit=1.0, seed=0, details=True)
    assert fi.repeats.max() > 5 and fi.attrs['tol_met'] is None   # spent on the least resolved features first


def test_importance_text_tokens_need_no_repeats():
    "Masking a token is the same every time: se 0, and tol has nothing to add"
    from fastinterp.synth import synth_text_learner
    tl = synth_text_learner()
    fi = tl.feature_importance(max_tokens=4, tol=0.01, seed=0, bs=256)
    assert (fi['se'] == 0).all() and fi.attrs['tol_met'] is True and set(fi.attrs['repeats'].values()) == {1}


# ---------------------------------------------------------------- torch.distributed: the same stopping decisions on every rank
@pytest.fixture(scope='module')
def ranks(dist_run): return dist_run


def _same(a, b, eps):
    pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=eps == 0, atol=eps, rtol=0)
    assert a.attrs == b.attrs if eps == 0 else a.attrs.keys() == b.attrs.keys()
    for k in ('walks', 'met', 'repeats', 'se', 'importances'):
        if k in a and a[k] is not None: np.testing.assert_allclose(a[k], b[k], rtol=0, atol=eps)


@pytest.mark.slow
def test_ranks_decide_alike(ranks):
    "Both ranks return the same tables, walks and repeats, time_limit included (rank 0's clock decides every round)"
    r0, r1 = ranks['res']
    for k in list(dist_worker.precision_analyses(None, ranks['df'])) + list(dist_worker.timed_analyses(None, ranks['df'])):
        _same(r0[k], r1[k], 0)
    assert r0['explain_time'].walks.max() > 4 and r0['fi_time'].repeats.max() > 5   # a round more, on the least precise first


@pytest.mark.slow
def test_ranks_equal_one_process(ranks):
    "With tol alone the decisions depend only on the numbers, so one process takes the same ones"
    learn, df, r0 = ranks['learn'], ranks['df'], ranks['res'][0]
    for k, f in dist_worker.precision_analyses(learn, df).items():
        one = f()
        np.testing.assert_array_equal(r0[k].get('walks', r0[k].get('repeats')), one.get('walks', one.get('repeats')))
        _same(r0[k], one, 1e-6)
