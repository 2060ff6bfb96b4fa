"`to_shap`: fastinterp's explanations as `shap.Explanation`s that shap's own plots draw, with fastinterp's numbers unchanged."
import sys
import numpy as np, pandas as pd, pytest, torch
import matplotlib.pyplot as plt
import fastcore.test as fct

shap = pytest.importorskip('shap', reason='shap is an optional extra of fastinterp (pip install shap, or pip install -e ".[shap]")')

from fastinterp.all import *
from fastinterp.synth import synth_df, synth_text_learner, CAT_EFFECT

CONTS, CATS = ['x0', 'x1', 'noise_cont'], ['cat_a', 'noise_cat']


@pytest.fixture(scope='module')
def rows():
    return synth_df(150, seed=7).drop(columns='y')


@pytest.fixture(scope='module')
def many(reg_learn, rows):
    "learn.explain(df, details=True) of 150 rows, and its Explanation"
    res = reg_learn.explain(rows, seed=0, details=True)
    return res, to_shap(res)


@pytest.fixture(scope='module')
def text_learn():
    return synth_text_learner()


def _by_feature(sv):
    return dict(zip(sv.feature_names, sv.values))


def _same_raw(a, b):
    "Raw values equal, NaN equal to NaN"
    return len(a) == len(b) and all((pd.isna(x) and pd.isna(y)) or x == y for x, y in zip(a, b))


# ---------------------------------------------------------------- one row
def test_one_row(reg_learn, rows):
    e = reg_learn.explain(rows.iloc[3], seed=0)
    sv = to_shap(e)
    t = e.set_index('feature')
    fct.test_eq(sv.shape, (5,))
    fct.test_eq(_by_feature(sv), t['contribution'].to_dict())          # values by feature, exactly
    fct.test_eq(sv.base_values, e.attrs['base_value'])
    assert _same_raw(list(sv.display_data), list(rows.iloc[3][list(sv.feature_names)]))   # the raw values, numbers as numbers
    for f in CONTS: fct.test_eq(sv.data[list(sv.feature_names).index(f)], rows.iloc[3][f])
    for f in CATS: fct.test_eq(sv.data[list(sv.feature_names).index(f)], 0.)  # one label per column: code 0
    fct.test_close(sv.base_values + sv.values.sum(), e.attrs['prediction'], eps=1e-6)
    # a Result knows the learner's feature order
    res = reg_learn.explain(rows.iloc[3], seed=0, details=True)
    fct.test_eq(list(to_shap(res).feature_names), res.features)
    fct.test_eq(to_shap(res).values, res.contributions[0])


def test_waterfall_and_bar_draw_one_row(reg_learn, rows):
    r = rows.iloc[3]
    sv = to_shap(reg_learn.explain(r, seed=0))
    shap.plots.waterfall(sv, show=False)
    labels = [t.get_text() for t in plt.gca().get_yticklabels()]
    assert f"{r['cat_a']} = cat_a" in labels and f"{r['noise_cat']} = noise_cat" in labels   # the raw labels, from display_data
    plt.close('all')
    shap.plots.bar(sv, show=False)
    widths = sorted(abs(p.get_width()) for p in plt.gca().patches)
    fct.test_close(widths, sorted(np.abs(sv.values)), eps=1e-9)


# ---------------------------------------------------------------- many rows
def test_many_rows_numbers(many, rows):
    res, sv = many
    fct.test_eq(sv.shape, (len(rows), 5))
    fct.test_eq(list(sv.feature_names), res.features)                  # the learner's order
    fct.test_eq(list(sv.instance_names), list(rows.index))
    # against the long table itself (not the Result's arrays): each (row, feature)'s contribution and raw value
    fr = res.frame
    pc = fr.pivot(index='row', columns='feature', values='contribution').loc[rows.index, res.features]
    fct.test_eq(sv.values, pc.to_numpy())
    fct.test_eq(sv.values, res.contributions)
    fct.test_eq(sv.base_values, fr.groupby('row', sort=False).base_value.first().loc[rows.index].to_numpy())
    fct.test_eq(sv.base_values, res.base)
    for j, f in enumerate(res.features):
        assert _same_raw(list(sv.display_data[:, j]), list(rows[f]))
        if f in CONTS: fct.test_eq(sv.data[:, j], rows[f].to_numpy())
    fct.test_close(sv.base_values + sv.values.sum(1), res.prediction, eps=1e-6)
    fct.test_eq(sv[5].values, res.contributions[5])                    # one row of many: shap's own slicing


def test_category_codes_follow_effect(many, rows):
    "Codes number the labels by their mean contribution: on synth_df, cat_a's true effects are a < b < c"
    res, sv = many
    j = res.features.index('cat_a')
    fct.test_eq(dict(zip(rows['cat_a'], sv.data[:, j])), {'a': 0., 'b': 1., 'c': 2.})
    assert sorted(CAT_EFFECT, key=CAT_EFFECT.get) == ['a', 'b', 'c']
    for f in CATS:     # the property, for any label column: code order == order of mean contribution
        k = res.features.index(f)
        mean = pd.Series(sv.values[:, k]).groupby(rows[f].to_numpy()).mean()
        code = pd.Series(sv.data[:, k]).groupby(rows[f].to_numpy()).first()
        fct.test_eq(list(code.sort_values().index), list(mean.sort_values().index))


def test_beeswarm_scatter_bar_heatmap_decision_draw(many, rows):
    res, sv = many
    shap.plots.beeswarm(sv, show=False)
    fct.test_eq({t.get_text() for t in plt.gca().get_yticklabels()}, set(res.features))
    plt.close('all')
    # scatter of a continuous feature: x = the raw values, y = the contributions (no jitter for continuous data)
    ax = shap.plots.scatter(sv[:, 'x0'], show=False)
    xy = ax.collections[0].get_offsets()
    fct.test_close(np.sort(xy[:, 0]), np.sort(rows['x0'].to_numpy()), eps=1e-9)
    fct.test_close(np.sort(xy[:, 1]), np.sort(res.contributions[:, res.features.index('x0')]), eps=1e-9)
    plt.close('all')
    ax = shap.plots.scatter(sv[:, 'cat_a'], show=False)                # labels on the x axis, in order of effect
    ticks = sorted(zip(ax.get_xticks(), [t.get_text() for t in ax.get_xticklabels()]))
    fct.test_eq(ticks, [(0., 'a'), (1., 'b'), (2., 'c')])
    plt.close('all')
    shap.plots.scatter(sv[:, 'x1'], color=sv, show=False)              # coloured by the strongest interaction
    plt.close('all')
    shap.plots.bar(sv, show=False)                                     # bars: mean |contribution|, as explanation_summary
    widths = sorted(p.get_width() for p in plt.gca().patches)
    fct.test_close(widths, sorted(explanation_summary(res).mean_abs_contribution), eps=1e-9)
    plt.close('all')
    shap.plots.heatmap(sv, show=False)
    plt.close('all')
    shap.plots.decision(float(sv.base_values[0]), sv.values[:20], feature_names=list(sv.feature_names), show=False)


def test_plain_table_order(many):
    "Without the Result, features by mean |contribution| (explanation_summary's order); features= sets any order"
    res, sv = many
    plain = to_shap(res.frame)
    fct.test_eq(list(plain.feature_names), list(explanation_summary(res).feature))
    fct.test_eq(plain[:, res.features].values, res.contributions)
    fct.test_eq(plain.base_values, res.base)
    order = ['noise_cat', 'x1', 'cat_a', 'x0', 'noise_cont']
    fct.test_eq(to_shap(res.frame, features=order)[:, res.features].values, res.contributions)
    fct.test_eq(list(to_shap(res, features=order).feature_names), order)
    with pytest.raises(ArgumentError, match=r"missing \['noise_cont'\]"): to_shap(res, features=order[:4])
    with pytest.raises(ArgumentError, match=r"repeated \['x1'\]"): to_shap(res, features=order + ['x1'])
    with pytest.raises(ArgumentError, match="Unknown feature 'x9'"): to_shap(res, features=order[:4] + ['x9'])


def test_extra_columns_ignored(many):
    "An unknown column (e.g. a user's note after `contribution`) changes nothing"
    res, sv = many
    fr = res.frame.copy()
    fr.insert(fr.columns.get_loc('contribution') + 1, 'note', 0.1)
    fct.test_eq(to_shap(fr).values, to_shap(res.frame).values)


def test_standard_errors_become_error_std(reg_learn, rows):
    "The `se` of each sampled contribution is the Explanation's `error_std`, cell by cell, in the Explanation's order"
    res = reg_learn.explain(rows.iloc[:30], seed=0, exact=False, n_samples=8, details=True)
    sv, fr = to_shap(res), res.frame
    assert (fr['se'] > 0).all()
    want = fr.pivot(index='row', columns='feature', values='se').loc[list(sv.instance_names), list(sv.feature_names)].to_numpy()
    fct.test_eq(sv.error_std, want)
    fct.test_eq(sv.error_std.shape, sv.values.shape)


def test_missing_values(na_learn):
    "NaN in a number column stays NaN in `data`; a missing label is a level of its own (a code); display_data keeps NaN"
    df = synth_df(80, seed=2, missing=0.3).drop(columns='y')
    df.loc[df.index[:6], 'cat_a'] = np.nan
    sv = to_shap(na_learn.explain(df, seed=0, n_samples=2, exact=False, details=True))
    fn = list(sv.feature_names)
    x1, ca = fn.index('x1'), fn.index('cat_a')
    fct.test_eq(np.isnan(sv.data[:, x1]), df['x1'].isna().to_numpy())
    assert not np.isnan(sv.data[:, ca]).any() and len(np.unique(sv.data[:, ca])) == 4
    assert pd.isna(sv.display_data[0, ca]) and df['cat_a'].isna().sum() == 6
    shap.plots.beeswarm(sv, show=False); plt.close('all')
    shap.plots.scatter(sv[:, 'x1'], show=False); plt.close('all')
    shap.plots.scatter(sv[:, 'cat_a'], show=False); plt.close('all')
    shap.plots.waterfall(sv[0], show=False)


def test_one_target_per_explanation(clf_learn, rows):
    "Rows explaining different outputs can't share one Explanation: refused with the fix"
    e = clf_learn.explain(rows.iloc[:8], seed=0)
    sv = to_shap(e)                                   # binary: every row explains 'pos'
    fct.test_eq(sv.shape, (8, 5))
    mixed = e.copy()
    mixed.loc[mixed.row == rows.index[0], 'target'] = 'neg'
    with pytest.raises(ArgumentError, match=r"different outputs.*target="): to_shap(mixed)
    fct.test_eq(to_shap(mixed[mixed.target == 'pos']).shape, (7, 5))


def test_tensor_rows():
    "A Learner over tensor rows: a linear model's exact Shapley values are w * (x - mean of the background)"
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    ds = list(zip(x, x[:, :1]))
    dls = DataLoaders(DataLoader(ds, bs=16), DataLoader(ds, bs=16))
    learn = Learner(dls, torch.nn.Linear(3, 1), loss_func=torch.nn.MSELoss())
    bg = x[:20]
    res = learn.explain(x[40:46], background=bg, seed=0, details=True)
    sv = to_shap(res)
    w = learn.model.weight[0].detach().double().numpy()
    fct.test_eq(list(sv.feature_names), ['x0', 'x1', 'x2'])
    fct.test_close(sv.values, w * (x[40:46].double().numpy() - bg.double().numpy().mean(0)), eps=1e-5)
    fct.test_close(sv.data, x[40:46].numpy(), eps=1e-6)
    shap.plots.beeswarm(sv, show=False)


# ---------------------------------------------------------------- texts
def test_one_text(text_learn):
    e = text_learn.explain("the nurse saw the family today")
    sv = to_shap(e)
    fct.test_eq(sv.values, e['attribution'].to_numpy())
    fct.test_eq(sv.base_values, e.attrs['base_value'])
    fct.test_eq(list(sv.data), [t + ' ' for t in e['token']])          # a space after each token, for shap's text plot
    fct.test_eq(list(sv.feature_names), list(e['token']))
    fct.test_eq(list(to_shap(e, sep='').data), list(e['token']))
    html = shap.plots.text(sv, display=False)
    assert all(f'>{t} </div>' in html for t in e['token'])
    shap.plots.bar(sv, show=False)


def test_list_of_texts(text_learn):
    texts = ["the nurse saw the family", "no new pain", "the family came"]   # tokens: 6, 4, 4 (two of one length)
    e = text_learn.explain(texts, details=True)
    sv = to_shap(e)
    fct.test_eq(len(sv), 3)
    for i in range(3):
        g = e.frame[e.frame.text == i]
        fct.test_eq(sv[i].values, g['attribution'].to_numpy())
        fct.test_eq(sv[i].base_values, g['base_value'].iloc[0])
        fct.test_eq(list(sv[i].data), [t + ' ' for t in g['token']])
        fct.test_eq(list(sv[i].feature_names), list(g['token']))
        fct.test_eq(sv[i].values, e.attributions[i])
    fct.test_eq(sv.base_values, e.base_value)
    html = shap.plots.text(sv, display=False)
    assert all(f'[{i}]' in html for i in range(3)) and 'family </div>' in html
    one = to_shap(text_learn.explain(texts[1:]))                      # equal lengths: still one array per text
    fct.test_eq(len(one), 2)
    fct.test_eq(list(one[1].feature_names), list(e.frame[e.frame.text == 2].token))


# ---------------------------------------------------------------- errors
def test_bad_input(reg_learn, rows, many, monkeypatch):
    res, _ = many
    with pytest.raises(ArgumentError, match='needs the result of explain or explain_text; got the result of explanation_summary'):
        to_shap(explanation_summary(res))
    with pytest.raises(ArgumentError, match='needs the result'): to_shap(rows)
    e = reg_learn.explain(rows.iloc[0], seed=0)
    bare = e.copy(); bare.attrs.clear()
    with pytest.raises(DataError, match='lost its attrs'): to_shap(bare)
    with pytest.raises(DataError, match='each feature exactly once'): to_shap(res.frame.iloc[1:])
    with pytest.raises(ArgumentError, match='sep must be a str'): to_shap(e, sep=None)
    monkeypatch.setitem(sys.modules, 'shap', None)
    with pytest.raises(ImportError, match='Install it with: pip install shap'): to_shap(e)
