"Conditional permutation importance: known answers on correlated tables, the tracker, bad input, and fippy's conditional feature importance as a reference."
from unittest import mock
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from scipy.stats import spearmanr
from fastai.learner import load_learner
from fastai.tabular.all import tabular_learner, rmse
from fastinterp.all import *
from fastinterp import conditional as cond
from fastinterp.callback import epoch_seed
from fastinterp.synth import twin_learner
from helpers import imp, quiet_fit, twin_dls, cont_learner


def _within(a, b, row, z=1.96):
    "Whether the importances of `row` in tables `a` and `b` agree within their two repeat standard errors"
    a, b = a.set_index('feature').loc[row], b.set_index('feature').loc[row]
    return abs(a.importance - b.importance) <= z * np.hypot(a.se, b.se)


@pytest.fixture(scope='module')
def twin():
    "synth_df plus x0_twin (x0 + N(0, 0.05^2)) and cat_a_copy (cat_a relabelled): two perfect substitutes"
    return twin_learner()


@pytest.fixture(scope='module')
def copy_learn():
    "y = x1 + x2 + noise; x3 = 0.95 x1 + sqrt(1 - 0.95^2) e, a near-copy the true function doesn't use"
    rng = np.random.default_rng(0)
    n = 4000
    x1, x2, e = rng.normal(size=(3, n))
    df = pd.DataFrame({'x1': x1, 'x2': x2, 'x3': 0.95 * x1 + np.sqrt(1 - 0.95**2) * e})
    df['y'] = df.x1 + df.x2 + 0.1 * rng.normal(size=n)
    return cont_learner(df, epochs=6)


# --- known answers ---------------------------------------------------------------------------------------------------
def test_independent_features_conditional_equals_marginal(reg_learn):
    "(a) synth_df's features are independent: the trees find nothing to condition on, and each importance stays as it was"
    fm = reg_learn.feature_importance(seed=0, n_repeats=3)
    fc = reg_learn.feature_importance(seed=0, n_repeats=3, conditional=True, details=True)
    for f in fm.feature: assert _within(fm, fc.frame, f), f
    fct.test_eq(fc.attrs['conditional'], True); fct.test_eq(fm.attrs['conditional'], False)
    # a feature with one subgroup is permuted exactly as marginal importance permutes it (the same seed's permutation)
    one = [f for f, k in fc.attrs['subgroups'].items() if k == 1]
    assert {'x0', 'x1', 'noise_cont'} <= set(one), fc.attrs['subgroups']
    fct.test_close(imp(fc.frame)[one].to_numpy(), imp(fm)[one].to_numpy(), eps=1e-9)
    fct.test_eq(list(fc.frame.columns), ['feature', 'importance', 'std', 'se', 'ci_low', 'ci_high'])
    assert (fc.subgroups.query("feature == 'x0'").rule == 'all rows').all()


def test_near_copy_the_function_ignores(copy_learn):
    "(b) y = x1 + x2: given x1, the near-copy x3 adds nothing; x1 given x3 keeps only what x3 misses; x2 is untouched"
    fm = copy_learn.feature_importance(seed=0, n_repeats=5)
    fc = copy_learn.feature_importance(seed=0, n_repeats=5, conditional=True)
    c, m = fc.set_index('feature'), imp(fm)
    # x3's conditional importance is 0 within its interval; x1 and x2 are clearly positive
    assert c.loc['x3', 'ci_low'] <= 0 <= c.loc['x3', 'ci_high'], c
    assert (c.loc[['x1', 'x2'], 'ci_low'] > 0).all(), c
    # x2 is independent of the others: as marginal (2 Var(x2) = 2 for a slope of 1)
    assert _within(fm, fc, 'x2') and abs(m['x2'] - 2) < 0.3
    # x1 permuted among rows alike in x3 moves by about its residual (sd 0.31): 2 (1 - 0.95^2) ~ 0.2, plus the subgroups'
    # width; far below its marginal 2
    assert 0.1 < c.loc['x1', 'importance'] < 0.25 * m['x1'], (c, m)


def test_perfect_substitutes_trap(twin):
    "(c) x0_twin ~ x0 and cat_a_copy = cat_a: each adds ~nothing given its twin, yet together they matter most"
    fc = twin.feature_importance(seed=0, n_repeats=3, conditional=True)
    grp = {'x0 & twin': ['x0', 'x0_twin'], 'cat_a & copy': ['cat_a', 'cat_a_copy']}
    fg = twin.feature_importance(seed=0, n_repeats=3, conditional=True, groups=grp)
    c, g = imp(fc), imp(fg)
    assert c[['x0', 'x0_twin']].max() < 0.02 * g['x0 & twin'], (c, g)
    fct.test_eq(c[['cat_a', 'cat_a_copy']].to_numpy(), [0., 0.])   # one determines the other: every subgroup holds one level
    assert g['x0 & twin'] > 5 and g['cat_a & copy'] > 2
    # a group is permuted within subgroups alike in the features outside it: nothing predicts these groups, so one
    # subgroup each, and exactly their marginal group importance
    fm = twin.feature_importance(seed=0, n_repeats=3, groups=grp)
    fct.test_close(g[list(grp)].to_numpy(), imp(fm)[list(grp)].to_numpy(), eps=1e-9)


def test_ames_like_mixed_columns_and_rules(twin):
    "Rules name the other columns in raw units; categorical ones as level sets"
    r = twin.feature_importance(seed=0, n_repeats=1, conditional=True, details=True).subgroups
    x0 = r[r.feature == 'x0']
    assert len(x0) > 4 and x0.rule.str.contains('x0_twin').all() and x0['rows'].sum() == 500
    levels = r[r.feature == 'cat_a'].rule.str.extract(r'cat_a_copy in \{([^}]*)\}')[0]
    fct.test_eq(set(levels), {'high', 'low', 'mid'})           # each subgroup holds one level of the copy


def test_metric_tol_max_samples_and_seed(twin):
    "conditional= works with metrics, tol=, max_samples= and seeds like marginal importance"
    a = twin.feature_importance(metric=rmse, seed=3, n_repeats=2, conditional=True, max_samples=300)
    b = twin.feature_importance(metric=rmse, seed=3, n_repeats=2, conditional=True, max_samples=300)
    pd.testing.assert_frame_equal(a, b)
    fct.test_eq(a.attrs['n_rows'], 300)
    assert a[['ci_low', 'ci_high']].isna().all().all()          # a full-set metric: no interval over rows
    t = twin.feature_importance(seed=1, n_repeats=2, tol=0.05, conditional=True)
    assert t.attrs['tol_met'] and max(t.attrs['repeats'].values()) > 2


def test_one_fit_shared_by_calls_and_epochs(twin):
    "A Subgroups passed to several calls fits each tree once; so does the tracker, once per fit"
    sg = Subgroups()
    with mock.patch.object(cond, '_fit_feature', wraps=cond._fit_feature) as fit:
        twin.feature_importance(seed=0, n_repeats=1, conditional=sg)
        twin.feature_importance(seed=1, n_repeats=2, conditional=sg, max_samples=250)
        fct.test_eq(fit.call_count, 7)
        twin.feature_importance(seed=1, n_repeats=1, conditional=sg, groups={'x0 & twin': ['x0', 'x0_twin']})
        fct.test_eq(fit.call_count, 8)                            # only the new group
    learn = tabular_learner(twin_dls(600, 200, 64), layers=[16])
    tr = ImportanceTracker(conditional=True, budget=None)
    with mock.patch.object(cond, '_fit_feature', wraps=cond._fit_feature) as fit:
        quiet_fit(learn, 3, cbs=tr)
        fct.test_eq(fit.call_count, 7)                            # 7 features, one fit
    fct.test_eq(tr.history.epoch.nunique(), 3)
    # the last epoch's row is what feature_importance(conditional=True) says of the final weights, with the epoch's seed
    fi = learn.feature_importance(conditional=True, n_repeats=1, seed=epoch_seed(0, 2), max_samples=2000)
    last = tr.history[tr.history.epoch == 2].set_index('feature')
    fct.test_close(last.loc[fi.feature, 'importance'].to_numpy(), fi.importance.to_numpy(), eps=1e-6)


# --- bad input -------------------------------------------------------------------------------------------------------
def test_too_few_rows_refused_and_small_subgroups_merge(twin):
    es = twin.eval_set()
    with pytest.raises(DataError, match=r'at least 2 x min_rows = 40 evaluation rows.*Pass more rows'):
        twin.feature_importance(es.subset(torch.arange(30)), conditional=True)
    sg = Subgroups(); sg.fit(twin, es, es.features)                # fitted for 500 rows: 14 subgroups of x0
    top = es.subset(es.xs[1][:, 0].argsort()[-45:].cpu())          # the 45 largest x0: a few of its leaves, none with 20 rows
    with pytest.warns(UserWarning, match=r"subgroups of .*x0.* merged into one.*Pass more rows"):
        fi = twin.feature_importance(top, conditional=sg, n_repeats=1, seed=0)
    fct.test_eq(fi.attrs['subgroups']['x0'], 1)
    assert sg.summary(top).set_index('feature').loc['x0', 'note'].startswith('too few evaluation rows')


def test_unpredictable_feature_is_one_subgroup(twin):
    s = Subgroups().fit(twin, twin.eval_set(), twin.eval_set().features).summary().set_index('feature')
    for f in ['x1', 'noise_cont', 'noise_cat']:
        fct.test_eq(s.loc[f, 'subgroups'], 1)
        assert 'the others do not predict it: one subgroup, the whole set' in s.loc[f, 'note']


def test_refusals(twin, tmp_path):
    with pytest.raises(ArgumentError, match='conditional must be True, False or a Subgroups'):
        twin.feature_importance(conditional='yes')
    twin.export(tmp_path / 'twin.pkl')
    loaded = load_learner(tmp_path / 'twin.pkl')
    df = pd.DataFrame(twin.dls.valid.items)                    # processed rows: decode them for a raw DataFrame
    from fastinterp.inputs import raw_frame
    raw = raw_frame(twin, twin.eval_set()); raw['y'] = twin.dls.valid.items['y'].to_numpy()
    with pytest.raises(DataError, match=r"learner has none.*conditional=Subgroups\(rows=df\)"):
        loaded.feature_importance(raw, conditional=True)
    fi = loaded.feature_importance(raw, conditional=Subgroups(rows=raw.drop(columns='y')), n_repeats=1, seed=0)
    assert fi.attrs['subgroups']['x0'] > 1


def test_refused_for_images_and_texts():
    from fastinterp.synth import square_images, image_dls, small_cnn
    from fastai.learner import Learner
    imgs, labels, _ = square_images(64, size=16)
    learn = Learner(image_dls(imgs, labels, bs=32, device='cpu'), small_cnn())
    with pytest.raises(ArgumentError, match='permutes columns of a table or of 2-d tensors.*leave conditional=False'):
        learn.feature_importance(patch_size=8, conditional=True, n_repeats=1)


# --- fippy: conditional feature importance with a Gaussian sampler ---------------------------------------------------
BETA = np.array([3., 0.3, 2., 1., 0.6, 1.5, 1.2, 0.8, 0.4, 0.1])   # y = X @ BETA + noise


def _gaussian_table(n, seed=0):
    "10 Gaussian features: x0~x1 (rho 0.7), x2, x3, x4 (rho 0.5 each pair), x5...x9 independent"
    C = np.eye(10); C[0, 1] = C[1, 0] = 0.7
    for i in (2, 3, 4):
        for j in (2, 3, 4):
            if i != j: C[i, j] = 0.5
    rng = np.random.default_rng(seed)
    X = rng.multivariate_normal(np.zeros(10), C, size=n)
    df = pd.DataFrame(X, columns=[f'x{i}' for i in range(10)])
    df['y'] = X @ BETA + 0.5 * rng.normal(size=n)
    return df, C


@pytest.fixture(scope='module')
def gauss():
    df, C = _gaussian_table(6000)
    return cont_learner(df, epochs=8, n_valid=1500), C


@pytest.mark.slow
def test_against_fippy_gaussian_cfi(gauss):
    "Same model, same rows: fippy's CFI (exact Gaussian conditionals) and ours rank the features alike; values agree where the samplers do"
    fippy = pytest.importorskip('fippy')
    from fippy.samplers import GaussianSampler
    from fippy.losses import squared_error
    from fastinterp.guard import preserved_rng
    learn, C = gauss
    es = learn.eval_set()
    names = list(es.features)
    model = learn.model.eval()
    tr = cond.training_rows(learn, es)
    X_train = pd.DataFrame(tr.xs[1].numpy(), columns=names)        # both in the model's units (normalised)
    X_test = pd.DataFrame(es.xs[1].numpy(), columns=names)
    y = es.ys[0][:, 0].numpy()
    def predict(X):
        with torch.no_grad():
            x = torch.tensor(np.asarray(X[names], dtype=np.float32))
            return model(torch.zeros(len(x), 0, dtype=torch.long), x)[:, 0].numpy()
    ex = fippy.Explainer(predict, X_train, squared_error, sampler=GaussianSampler(X_train))
    with preserved_rng():
        np.random.seed(0)                                           # fippy draws from numpy's global generator
        ref = ex.cfi(X_test, y, n_repeats=5).ci()
    sg = Subgroups()
    ours = learn.feature_importance(es, conditional=sg, n_repeats=10, seed=0).set_index('feature').loc[names]
    rho = spearmanr(ours.importance, ref.importance).statistic
    # where the samplers agree: a feature independent of the others is drawn from its marginal by both (R^2 = 0); where
    # it isn't, fippy's conditional variance is the exact Gaussian one, 1/(C^-1)_jj, ours what a depth-3 tree leaves
    gauss_r2 = 1 - 1 / np.diag(np.linalg.inv(C))
    tree_r2 = sg.summary(es).set_index('feature').loc[names, 'r2'].to_numpy()
    half = (ref['upper'] - ref['lower']) / 2
    overlap = (np.abs(ours.importance - ref.importance) <= 1.96 * ours.se + half).to_numpy()
    print(pd.DataFrame({'ours': ours.importance, 'ours_se': ours.se, 'fippy': ref.importance, 'fippy_half': half,
                        'gauss_r2': gauss_r2, 'tree_r2': tree_r2, 'overlap': overlap}).round(4), '\nspearman', rho)
    assert rho >= 0.9
    indep = gauss_r2 < 1e-9
    assert (tree_r2[indep] == 0).all()                              # the trees find nothing to condition on
    assert indep.sum() == 5 and overlap[indep].all()
    # correlated features: the coarser conditioning leaves a little more variation to permute (x2: +7% here)
    rel = (ours.importance / ref.importance - 1).to_numpy()
    assert np.abs(rel[~indep]).max() < 0.2, rel
