"Feature association, clustering, dendrogram, and feature_importance(groups='auto')."
import numpy as np, pandas as pd, pytest
import fastcore.test as fct
from scipy import stats
from fastai.tabular.all import TabularDataLoaders, tabular_learner, Categorify, FillMissing, Normalize, set_seed
from fastinterp.synth import synth_df
from helpers import rng_states, same_rng, twin_dls
from fastinterp.all import *
from fastinterp.correlation import association_matrix


@pytest.fixture(scope='module')
def twin_learn():
    "synth_df plus a near-duplicate of x0 (x0_twin) and a relabelled copy of cat_a (cat_a_copy)"
    dls = twin_dls(2000, 500, 128)
    learn = tabular_learner(dls, layers=[64, 32])
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(3, 3e-2)
    return learn


def _table(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    t = pd.DataFrame({'u': rng.normal(size=n), 'w': rng.normal(size=n), 'k': rng.choice(list('pqrs'), n), 'l': rng.choice(list('xyz'), n)})
    t['v'] = np.exp(t.u) + 0.3*rng.normal(size=n)
    t['m'] = np.where(t.u > 0, 'hi', 'lo')
    return t


def test_measures_match_references():
    t = _table()
    am = association_matrix(t)
    fct.test_eq(am.attrs['kinds'], {'k': 'categorical', 'l': 'categorical', 'm': 'categorical', 'u': 'continuous', 'w': 'continuous', 'v': 'continuous'})
    fct.test_close(am.loc['u', 'v'], stats.spearmanr(t.u, t.v).statistic, eps=1e-9)
    # the order of the columns changes nothing but the order of the matrix
    rev = association_matrix(t[t.columns[::-1]])
    fct.test_close(rev.loc[am.index, am.columns].to_numpy(), am.to_numpy(), eps=1e-12)
    # two categories: eta of ranks is the absolute (point-biserial) rank correlation; corrected for chance (Kelley's epsilon)
    r2, n = stats.pearsonr(t.v.rank(), (t.m == 'hi').astype(float)).statistic**2, len(t)
    fct.test_close(am.loc['m', 'v'], np.sqrt(1 - (1-r2)*(n-1)/(n-2)), eps=1e-9)
    # Cramér's V: for large n the bias correction vanishes and it matches scipy's plain V
    big = _table(20000, seed=1); big['k2'] = np.where(big.k.isin(['p', 'q']), big.l, big.k)
    plain = stats.contingency.association(pd.crosstab(big.k, big.k2).to_numpy(), method='cramer')
    fct.test_close(association_matrix(big[['k', 'k2']]).loc['k', 'k2'], plain, eps=0.01)
    # independent features: near zero, even with many levels
    assert am.loc['k', 'l'] < 0.05 and am.loc['k', 'w'] < 0.1 and abs(am.loc['u', 'w']) < 0.1


def test_missing_values():
    t = _table()
    t.loc[::7, 'v'] = np.nan; t.loc[::5, 'k'] = np.nan
    am = association_matrix(t, cat_names=['k', 'l', 'm'], cont_names=['u', 'v', 'w'])
    assert not am.isna().any().any()
    ok = t.v.notna()
    fct.test_close(am.loc['u', 'v'], stats.spearmanr(t.u[ok], t.v[ok]).statistic, eps=1e-9)
    with pytest.raises(ArgumentError, match='not in the DataFrame'): association_matrix(t, cat_names=['zz'], cont_names=[])


def test_feature_correlation(twin_learn):
    c = twin_learn.feature_correlation()
    fct.test_eq(list(c.columns), ['cat_a', 'noise_cat', 'cat_a_copy', 'x0', 'x1', 'noise_cont', 'x0_twin'])
    assert c.loc['x0', 'x0_twin'] > 0.99
    fct.test_close(c.loc['cat_a', 'cat_a_copy'], 1., eps=1e-9)
    fct.test_eq(c.attrs['n_rows'], 500)
    sub = twin_learn.feature_correlation(max_samples=200, seed=3)
    fct.test_eq(sub.attrs['n_rows'], 200)
    fct.test_eq(sub, twin_learn.feature_correlation(max_samples=200, seed=3))


def test_auto_groups_near_duplicates(twin_learn):
    g = auto_groups(twin_learn)
    fct.test_eq(g, {'cat_a & cat_a_copy': ['cat_a', 'cat_a_copy'], 'x0 & x0_twin': ['x0', 'x0_twin']})
    fct.test_eq(auto_groups(twin_learn, threshold=0.9999), {'cat_a & cat_a_copy': ['cat_a', 'cat_a_copy']})
    with pytest.raises(ArgumentError, match='threshold must be'): auto_groups(twin_learn, threshold=0)
    clusters = cluster_features(twin_learn.feature_correlation())
    fct.test_eq(clusters, {'cat_a & cat_a_copy': ['cat_a', 'cat_a_copy'], 'noise_cat': ['noise_cat'],
                           'x0 & x0_twin': ['x0', 'x0_twin'], 'x1': ['x1'], 'noise_cont': ['noise_cont']})


def test_importance_groups_auto(twin_learn):
    single = twin_learn.feature_importance(seed=0, n_repeats=2).set_index('feature').importance
    r = twin_learn.feature_importance(groups='auto', seed=0, n_repeats=2, details=True)
    fi = r.frame
    fct.test_eq(set(fi.feature), {'x0 & x0_twin', 'cat_a & cat_a_copy', 'x1', 'noise_cat', 'noise_cont'})
    fct.test_eq(fi.feature[0], 'x0 & x0_twin')
    joint = fi.set_index('feature').importance
    assert joint['x0 & x0_twin'] > single['x0'] + single['x0_twin']   # each alone is understated
    fct.test_eq(r.features['x0 & x0_twin'], [(1, 0), (1, 3)])
    # the same as naming the groups by hand
    by_hand = twin_learn.feature_importance(groups=auto_groups(twin_learn), seed=0, n_repeats=2)
    pd.testing.assert_frame_equal(fi, by_hand, check_like=False)
    fi2 = twin_learn.feature_importance(groups='auto', threshold=0.9999, seed=0, n_repeats=1)
    assert 'x0' in set(fi2.feature) and 'cat_a & cat_a_copy' in set(fi2.feature)
    with pytest.raises(ArgumentError, match="groups must be a dict"): twin_learn.feature_importance(groups='all')
    with pytest.raises(ArgumentError, match="only with groups='auto'"): twin_learn.feature_importance(threshold=0.5)


def test_no_side_effects(twin_learn):
    items = twin_learn.dls.valid.dataset.items.copy()
    st = rng_states()
    twin_learn.feature_correlation(max_samples=0.5)
    assert same_rng(st, rng_states())
    pd.testing.assert_frame_equal(twin_learn.dls.valid.dataset.items, items)


def test_feature_correlation_matches_raw_data(twin_learn):
    "Computed on the raw validation values (decoded from the processed table), not on codes or normalised numbers"
    raw = twin_learn.dls.valid.dataset.items.index
    from fastinterp.synth import synth_df
    df = synth_df(2000)
    df['x0_twin'] = df['x0'] + 0.05*np.random.default_rng(1).normal(size=len(df))
    df = df.loc[raw]
    c = twin_learn.feature_correlation()
    fct.test_close(c.loc['x0', 'x1'], stats.spearmanr(df.x0, df.x1).statistic, eps=1e-6)
    fct.test_close(c.loc['x1', 'noise_cont'], stats.spearmanr(df.x1, df.noise_cont).statistic, eps=1e-6)


def test_dendrogram(twin_learn):
    import matplotlib.axes
    c = twin_learn.feature_correlation()
    ax = plot_dendrogram(c, threshold=0.75)
    assert isinstance(ax, matplotlib.axes.Axes)
    fct.test_eq(sorted(t.get_text() for t in ax.get_yticklabels()), sorted(c.columns))
    fct.test_eq(ax.get_xlabel(), '1 - |association|')
    with pytest.raises(ArgumentError, match='at least two'): plot_dendrogram(c.iloc[:1, :1])
    with pytest.raises(ArgumentError, match='needs the result of feature_correlation'): plot_dendrogram(twin_learn.feature_importance(n_repeats=1, seed=0))
