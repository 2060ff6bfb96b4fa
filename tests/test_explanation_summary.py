"""`explanation_summary` and `plot_explanation_summary`: summaries of `learn.explain(df)` over many rows."""
import io, json, pickle
import numpy as np, pandas as pd, pytest
import fastcore.test as fct
import matplotlib.figure
import matplotlib.pyplot as plt
from fastinterp.all import *
from fastinterp.plots.explain import _swarm
from fastinterp.synth import synth_df
from helpers import SIGNAL, NOISE

COLS = ['feature', 'mean_abs_contribution', 'mean_contribution']


@pytest.fixture(scope='module')
def ex(reg_learn):
    return reg_learn.explain(synth_df(120, seed=8), seed=0)


@pytest.fixture(scope='module')
def ex_na(na_learn):
    return na_learn.explain(synth_df(80, seed=9, missing=0.3), seed=0, exact=False)


def test_summary_is_a_groupby_of_the_explanation(ex):
    s = explanation_summary(ex)
    fct.test_eq(list(s.columns), COLS)
    ref = ex.assign(a=ex.contribution.abs()).groupby('feature').agg(mean_abs_contribution=('a', 'mean'), mean_contribution=('contribution', 'mean'))
    ref = ref.sort_values('mean_abs_contribution', ascending=False)
    fct.test_eq(list(s.feature), list(ref.index))
    np.testing.assert_allclose(s[COLS[1:]].to_numpy(), ref.to_numpy(), rtol=1e-12)
    assert (np.diff(s.mean_abs_contribution) <= 0).all()
    fct.test_eq(s.index.tolist(), list(range(5)))
    # the ground truth of the synthetic table: the signal first, the noise last
    fct.test_eq(set(s.feature[:3]), SIGNAL); fct.test_eq(set(s.feature[3:]), set(NOISE))
    fct.test_eq(s.feature[0], 'x0')


def test_summary_attrs_and_result(reg_learn, ex):
    s = explanation_summary(ex)
    fct.test_eq(s.attrs, dict(analysis='explanation_summary', n_rows=120, target=ex.target.iloc[0], method='shapley',
                              n_samples=None, exact=True, n_background=50))
    json.dumps(s.attrs)
    r = reg_learn.explain(synth_df(10, seed=1), seed=0, details=True)
    pd.testing.assert_frame_equal(explanation_summary(r), explanation_summary(r.frame))
    fct.test_eq(explanation_summary(r).attrs['n_rows'], 10)


def test_summary_multiclass_targets(clf_learn):
    "A binary classifier's rows all explain 'pos'; target is None when the rows explain different classes"
    e = clf_learn.explain(synth_df(20, seed=3), seed=0)
    fct.test_eq(explanation_summary(e).attrs['target'], 'pos')
    mixed = e.copy()
    mixed.loc[mixed.row == mixed.row.iloc[0], 'target'] = 'neg'
    fct.test_eq(explanation_summary(mixed).attrs['target'], None)


def test_summary_pandas_ops(reg_learn, ex):
    s = explanation_summary(ex)
    fct.test_eq(list(s.nlargest(2, 'mean_abs_contribution').feature), list(s.feature[:2]))
    fi = reg_learn.feature_importance(n_repeats=1, seed=0)
    m = s.merge(fi[['feature', 'importance']], on='feature')
    fct.test_eq(len(m), 5)
    assert np.corrcoef(m.mean_abs_contribution, m.importance)[0, 1] > 0.5   # two views of the same model agree on order
    both = pd.concat([s.assign(model='a'), s.assign(model='b')], ignore_index=True)
    fct.test_eq(len(both), 10)
    back = pd.read_json(io.StringIO(s.to_json(orient='records')))
    np.testing.assert_allclose(back.mean_abs_contribution, s.mean_abs_contribution)
    p = pickle.loads(pickle.dumps(s))
    pd.testing.assert_frame_equal(p, s); fct.test_eq(p.attrs, s.attrs)
    fct.test_eq(s.copy().attrs, s.attrs)
    s.to_csv(io.StringIO())


def test_summary_bad_input(reg_learn, ex):
    one = reg_learn.explain(synth_df(1, seed=0).iloc[0], seed=0)
    with pytest.raises(ArgumentError, match='explanation of one row'): explanation_summary(one)
    with pytest.raises(ArgumentError, match='needs the result of explain; got the result of feature_importance'):
        explanation_summary(reg_learn.feature_importance(n_repeats=1, seed=0))
    with pytest.raises(ArgumentError, match='needs the result of explain'): explanation_summary(explanation_summary(ex))
    with pytest.raises(ArgumentError, match='without the columns'): explanation_summary(pd.DataFrame({'a': [1]}))
    with pytest.raises(ArgumentError, match='got a list'): explanation_summary([1, 2])
    for fn in (plot_explanation_summary,):
        with pytest.raises(ArgumentError, match='explanation of one row'): fn(one)
        with pytest.raises(ArgumentError, match='without the columns'): fn(pd.DataFrame({'a': [1]}))
    with pytest.raises(ArgumentError, match="kind must be one of 'beeswarm', 'bar'"): plot_explanation_summary(ex, kind='dots')
    with pytest.raises(ArgumentError, match='top_k must be a positive int'): plot_explanation_summary(ex, top_k=0)
    with pytest.raises(ArgumentError, match=r"without the columns \['value'\]"): plot_explanation_summary(ex.drop(columns='value'))
    plot_explanation_summary(ex.drop(columns='value'), kind='bar')        # the bar chart needs no values


# ---------------------------------------------------------------- plots
def _colorbars(fig):
    return [a for a in fig.axes if a.get_ylabel() == 'feature value (low → high)']


def test_beeswarm_structure(ex):
    s = explanation_summary(ex)
    fig = plot_explanation_summary(ex)
    assert isinstance(fig, matplotlib.figure.Figure)
    ax = fig.axes[0]
    fct.test_eq([t.get_text() for t in ax.get_yticklabels()], list(s.feature))       # one line per feature
    assert (np.diff(ax.get_yticks()) < 0).all()                                        # most important on top
    fct.test_eq(len(ax.collections), 5)
    fct.test_eq([len(c.get_offsets()) for c in ax.collections], [120] * 5)              # a dot per explained row
    fct.test_eq(len(_colorbars(fig)), 1)
    for c, y in zip(ax.collections, ax.get_yticks()):                                  # each swarm on its own line
        np.testing.assert_allclose(np.sort(c.get_offsets()[:, 0]),
                                   np.sort(ex[ex.feature == s.feature[list(ax.get_yticks()).index(y)]].contribution), rtol=1e-12)
        assert np.abs(c.get_offsets()[:, 1] - y).max() <= 0.3 + 1e-9
    # categorical features: their strongest levels are named, in the colours of their dots
    texts = {t.get_text(): t.get_color() for t in ax.texts}
    assert {'a', 'c'} <= set(texts)
    ci = [t.get_text() for t in ax.get_yticklabels()].index('cat_a')
    cols = {matplotlib.colors.to_hex(f) for f in ax.collections[ci].get_facecolors()}
    assert matplotlib.colors.to_hex(texts['a']) in cols and matplotlib.colors.to_hex(texts['c']) in cols
    assert 'categorical features: colour = level' in ax.get_xlabel()
    # continuous: high x0 (red) on the right
    xi = [t.get_text() for t in ax.get_yticklabels()].index('x0')
    fc, off = ax.collections[xi].get_facecolors(), ax.collections[xi].get_offsets()
    assert np.corrcoef(off[:, 0], fc[:, 0] - fc[:, 2])[0, 1] > 0.9
    lo, hi = ax.get_xlim()                                                              # zoomed to the data
    c = ex.contribution
    assert lo <= c.min() and hi >= c.max() and (hi - lo) < 1.2 * (c.max() - c.min())


def test_beeswarm_is_deterministic(ex):
    a = plot_explanation_summary(ex).axes[0].collections
    b = plot_explanation_summary(ex).axes[0].collections
    for x, y in zip(a, b): np.testing.assert_array_equal(x.get_offsets(), y.get_offsets())
    y = _swarm(np.array([0., 0., 0., 0., 5.]))
    fct.test_close(sorted(y[:4].tolist()), [-0.2, 0., 0.2, 0.4], eps=1e-12)   # crowded dots spread both ways; a lone one stays on the line
    fct.test_eq(y[4], 0.)
    fct.test_eq(_swarm(np.array([])).tolist(), [])


def test_nan_values_grey_and_top_k(ex_na):
    fig = plot_explanation_summary(ex_na, top_k=3)
    ax = fig.axes[0]
    fct.test_eq(len(ax.get_yticklabels()), 3); fct.test_eq(len(ax.collections), 3)
    assert 'top 3 of 5' in ax.get_title()
    names = [t.get_text() for t in ax.get_yticklabels()]
    if 'x1' in names:
        fc = ax.collections[names.index('x1')].get_facecolors()
        n_nan = ex_na[ex_na.feature == 'x1'].value.isna().sum()
        assert n_nan > 0
        fct.test_eq(sum(matplotlib.colors.to_hex(f) == '#a0a0a0' for f in fc), n_nan)
    full = plot_explanation_summary(ex_na)
    assert full.get_figheight() > fig.get_figheight()                                   # sized to the features drawn


def test_only_categorical_features_has_no_colorbar(ex):
    cats = ex[ex.feature.isin(['cat_a', 'noise_cat'])]
    fig = plot_explanation_summary(cats)
    fct.test_eq(len(_colorbars(fig)), 0); fct.test_eq(len(fig.axes), 1)
    fct.test_eq(len(fig.axes[0].collections), 2)
    conts = ex[~ex.feature.isin(['cat_a', 'noise_cat'])]
    fig = plot_explanation_summary(conts)
    fct.test_eq(len(_colorbars(fig)), 1)
    assert 'categorical' not in fig.axes[0].get_xlabel() and len(fig.axes[0].texts) == 0


def test_without_categorical_attr_infers_from_values(ex):
    "A long table built by hand (no `categorical` in attrs): strings are levels, numbers are values"
    e = ex.copy()
    del e.attrs['categorical']
    fig = plot_explanation_summary(e)
    fct.test_eq(len(_colorbars(fig)), 1)
    assert {'a', 'c'} <= {t.get_text() for t in fig.axes[0].texts}


def test_bar(ex):
    s = explanation_summary(ex)
    fig = plot_explanation_summary(ex, kind='bar', top_k=4)
    ax = fig.axes[0]
    fct.test_eq(len(ax.patches), 4)
    fct.test_eq([t.get_text() for t in ax.get_yticklabels()], list(s.feature[:4]))
    widths = sorted((p.get_y(), p.get_width()) for p in ax.patches)[::-1]              # top to bottom
    np.testing.assert_allclose([w for _, w in widths], s.mean_abs_contribution[:4], rtol=1e-12)
    fct.test_eq(len(_colorbars(fig)), 0)
    _, ax2 = plt.subplots()
    assert plot_explanation_summary(ex, kind='bar', ax=ax2) is ax2.figure


def test_beeswarm_of_a_parquet_round_trip(ex, tmp_path):
    "The `value` texts read back from parquet colour the dots as the original table does (numbers parsed back, exactly)"
    pytest.importorskip('pyarrow', reason='pyarrow (a test dependency) writes parquet')
    ex.to_parquet(tmp_path/'ex.parquet')
    back = pd.read_parquet(tmp_path/'ex.parquet')
    a, b = plot_explanation_summary(ex).axes[0], plot_explanation_summary(back).axes[0]
    for ca, cb in zip(a.collections, b.collections):
        fct.test_eq(ca.get_facecolors(), cb.get_facecolors()); fct.test_eq(ca.get_offsets(), cb.get_offsets())
    # the colour of x0 is its raw value's rank on coolwarm (the values read from the texts)
    xi = [t.get_text() for t in b.get_yticklabels()].index('x0')
    raw = pd.Series(back[back.feature == 'x0'].value.astype(float).to_numpy())
    want = [matplotlib.colors.to_hex(plt.get_cmap('coolwarm')(r)) for r in (raw.rank()-1)/(len(raw)-1)]
    fct.test_eq([matplotlib.colors.to_hex(c) for c in b.collections[xi].get_facecolors()], want)


def test_stacked_explanations_summarise_each_row_once(reg_learn, ex):
    "pd.concat of two explanations with the same row labels is refused; concat_explanations counts each row once"
    a, b = ex[ex.row < 60], reg_learn.explain(synth_df(60, seed=3), seed=0)      # both labelled 0..59
    with pytest.raises(DataError, match='concat_explanations'): explanation_summary(pd.concat([a, b]))
    s = explanation_summary(concat_explanations(a, b))
    fct.test_eq(s.attrs['n_rows'], 120)
    both = pd.concat([a, b])
    ref = both.contribution.abs().groupby(both.feature).mean()
    fct.test_close(s.set_index('feature').mean_abs_contribution[ref.index].to_numpy(), ref.to_numpy(), eps=1e-12)   # summed in another order
