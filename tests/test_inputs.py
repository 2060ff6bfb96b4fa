"""What users' data does to the output (issue 25, "numbers you can trust everywhere"): explained rows that stay apart
when explanations are stacked, labels drawn as text (never as maths), results that survive parquet and feather, integer
column names, clear errors for bad columns and values, and one rule for category levels the learner never saw. Each
test failed before its fix."""
import io, warnings
import numpy as np, pandas as pd, pytest, torch
import matplotlib.pyplot as plt
from matplotlib import cbook
from matplotlib.text import Text
import fastcore.test as fct
from fastai.learner import Learner
from fastai.metrics import msle
from fastai.losses import CrossEntropyLossFlat
from fastai.tabular.all import TabularDataLoaders, tabular_learner, Categorify, FillMissing, Normalize, set_seed
from fastinterp.all import *
from fastinterp.synth import synth_df, square_images, image_dls, small_cnn, pulse_series, series_dls, small_cnn1d
from fastinterp.explain_rows import explained_rows, value_numbers
from helpers import tiny, brute_force_preds


def _rows(a, b, seed=0):
    "Raw rows a:b of `synth_df`, relabelled 0, 1, ... as two separate calls of `learn.explain` would see them"
    return synth_df(40, seed=seed).drop(columns='y').iloc[a:b].reset_index(drop=True)


@pytest.fixture(scope='module')
def two(reg_learn):
    "Two explanations of two rows each, both rows labelled 0 and 1; and two one-row explanations"
    ea, eb = reg_learn.explain(_rows(0, 2), seed=0), reg_learn.explain(_rows(2, 4), seed=0)
    s1, s2 = reg_learn.explain(_rows(4, 5).iloc[0], seed=0), reg_learn.explain(_rows(5, 6).iloc[0], seed=0)
    return ea, eb, s1, s2


# ---------------------------------------------------------------- 1. one case per explained row
CONSUMERS = {'explanation_report': lambda e: explanation_report(e), 'plot_explanation': lambda e: plot_explanation(e, row=0),
             'explanation_summary': explanation_summary, 'plot_explanation_summary': plot_explanation_summary, 'to_shap': to_shap}


@pytest.mark.parametrize('fn', list(CONSUMERS))
def test_pd_concat_of_explanations_is_refused_with_the_fix(two, fn):
    "pd.concat mixes rows that share a label (the report summed two rows per case); every consumer refuses it the same way"
    ea, eb, s1, s2 = two
    with pytest.raises(DataError, match=rf"{fn}: row 0 has feature '\w+' 2 times.*concat_explanations\(expl_a, expl_b\)"):
        CONSUMERS[fn](pd.concat([ea, eb], ignore_index=True))
    one = plot_explanation if fn == 'plot_explanation' else CONSUMERS[fn]   # (row= is for many rows)
    with pytest.raises(DataError, match=rf"{fn}: feature '\w+' appears 2 times in this explanation of one row.*concat_explanations"):
        one(pd.concat([s1, s2], ignore_index=True))


def _case_sums(rep):
    "Per case of a report: (the prediction, base value + sum of contributions), as the report writes them"
    import re
    preds = re.findall(r'<dt>prediction</dt><dd><b>([^<]+)</b>', rep.html)
    sums = re.findall(r'base value \+ sum = ([^;)]+)', rep.html)
    return list(zip(preds, sums))


def test_concat_explanations_keeps_rows_apart(two):
    ea, eb, s1, s2 = two
    c = concat_explanations(ea, eb)
    fct.test_eq(list(pd.unique(c.row)), ['0:0', '0:1', '1:0', '1:1'])    # labels clash: each prefixed by its explanation
    for k, src in (('0:1', ea[ea.row == 1]), ('1:0', eb[eb.row == 0])):          # each row's lines, untouched
        got = c[c.row == k].drop(columns='row').reset_index(drop=True)
        pd.testing.assert_frame_equal(got, src.drop(columns='row').reset_index(drop=True), check_dtype=False)
    rep = explanation_report(c)
    fct.test_eq(len(rep.cases), 4)
    sums = _case_sums(rep)
    fct.test_eq(len(sums), 4)
    for pred, tot in sums: fct.test_eq(pred, tot)     # exact Shapley values (5 features, enumerated): they add up
    s = explanation_summary(c)
    fct.test_eq(s.attrs['n_rows'], 4)
    both = pd.concat([ea.assign(row=ea.row.astype(str) + 'a'), eb.assign(row=eb.row.astype(str) + 'b')])
    ref = both.groupby('feature').contribution.apply(lambda x: x.abs().mean())
    fct.test_close(s.set_index('feature').mean_abs_contribution.loc[ref.index].to_numpy(), ref.to_numpy(), eps=1e-15)
    sv = to_shap(c)
    fct.test_eq(sv.values.shape, (4, 5))
    i = list(sv.instance_names).index('1:0')
    fct.test_eq(dict(zip(sv.feature_names, sv.values[i])), eb[eb.row == 0].set_index('feature').contribution.to_dict())
    ax = plot_explanation(c, row='1:1')
    fct.test_eq(len(ax.patches), 5)                                                # one bar per feature of that row only
    fct.test_eq(plot_explanation_summary(c).axes[0].get_title(), 'shapley contributions over 4 rows')


def test_concat_explanations_of_one_row_explanations(two):
    "One-row explanations keep their base value and prediction in attrs; stacked, they become columns"
    ea, eb, s1, s2 = two
    c = concat_explanations(s1, s2)
    fct.test_eq(list(pd.unique(c.row)), [0, 1])                                   # no clash: their positions
    for k, s in ((0, s1), (1, s2)):
        part = c[c.row == k]
        fct.test_eq(part.prediction.iloc[0], s.attrs['prediction'])
        fct.test_eq(part.base_value.iloc[0], s.attrs['base_value'])
        fct.test_eq(part.contribution.to_numpy(), s.contribution.to_numpy())
    fct.test_eq(list(pd.unique(concat_explanations(s1, ea, keys=['s', 'a']).row)), ['s', 'a:0', 'a:1'])
    for pred, tot in _case_sums(explanation_report(c)): fct.test_eq(pred, tot)
    with pytest.raises(ArgumentError, match='one distinct name per explanation'): concat_explanations(s1, s2, keys=['a', 'a'])


def test_rows_with_a_missing_line_are_told_apart_from_stacked_rows(two):
    "Lines dropped from a row: drawn (the report shows what is there), refused by to_shap (a [rows, features] array)"
    ea = two[0]
    cut = ea[~((ea.row == 1) & (ea.feature == 'x0'))]
    fct.test_eq([k for k, _ in explained_rows(cut, 'test')], [0, 1])
    fct.test_eq(len(explanation_report(cut).cases), 2)
    with pytest.raises(DataError, match='missing features'): to_shap(cut)


# ---------------------------------------------------------------- 2. labels are text, never markup
def drawn_texts(fig) -> list:
    "Every text of `fig` as drawn (after a full draw), checked not to be read as maths"
    fig.canvas.draw()
    out = []
    for t in fig.findobj(Text):
        s = t.get_text()
        if not s or not t.get_visible(): continue
        assert not (t.get_parse_math() and cbook.is_math_text(s)), f"read as maths: {s!r}"
        out.append(s.replace(r'\$', '$'))
    return out


@pytest.fixture(scope='module')
def dollars():
    "A classifier on columns 'price ($$)', 'x1', 'tier' (levels $, $$, $$$) and 'noise', classes '$low' and '$$high'"
    df = synth_df(400, kind='classification', seed=2)
    df = pd.DataFrame({'price ($$)': df.x0, 'x1': df.x1, 'tier': df.cat_a.map({'a': '$', 'b': '$$', 'c': '$$$'}),
                       'noise': df.noise_cat, 'y': df.y.map({'neg': '$low', 'pos': '$$high'})})
    set_seed(0, reproducible=True)
    dls = TabularDataLoaders.from_df(df, y_names='y', cat_names=['tier', 'noise'], cont_names=['price ($$)', 'x1'],
                                     procs=[Categorify, FillMissing, Normalize], bs=64, y_block=None)
    learn = tabular_learner(dls, layers=[8])
    ex = learn.explain(df.drop(columns='y').iloc[:12], seed=0)
    return learn, df, ex


def _history():
    "A tracker's history, by hand: two features with dollars in their names over three epochs"
    h = pd.DataFrame({'fit': 0, 'epoch': np.repeat([0, 1, 2], 2), 'feature': ['$a', '$$b']*3,
                      'importance': [.3, .1, .4, .2, .5, .1], 'rank': [1, 2, 1, 2, 1, 2]})
    h.attrs.update(analysis='importance_history', score='cost ($$)')
    return h


DOLLAR_PLOTS = {   # name -> (draw(learn, df, ex) -> figure, a text the figure must show)
    'plot_importance': (lambda l, d, e: plot_importance(l.feature_importance(n_repeats=1, seed=0)).figure, 'price ($$)'),
    'pd_continuous': (lambda l, d, e: plot_partial_dependence(l.partial_dependence('price ($$)', details=True)).figure, 'price ($$)'),
    'pd_categorical': (lambda l, d, e: plot_partial_dependence(l.partial_dependence('tier', details=True)).figure, '$$$'),
    'pd_pair': (lambda l, d, e: plot_partial_dependence(l.partial_dependence(['tier', 'price ($$)'])).figure, '$$'),
    'pd_all_targets': (lambda l, d, e: plot_partial_dependence(l.partial_dependence('tier', target='all')).figure, '$$high'),
    'ale': (lambda l, d, e: plot_partial_dependence(l.ale('price ($$)')).figure, 'price ($$)'),
    'plot_interactions': (lambda l, d, e: plot_interactions(l.feature_interactions(max_samples=20, seed=0)).figure, 'price ($$)'),
    'plot_dendrogram': (lambda l, d, e: plot_dendrogram(l.feature_correlation(), threshold=0.5).figure, 'price ($$)'),
    'plot_explanation': (lambda l, d, e: plot_explanation(e, row=3).figure, '$$'),
    'plot_explanation_one_row': (lambda l, d, e: plot_explanation(l.explain(d.iloc[0], seed=0)).figure, 'tier = $'),
    'beeswarm': (lambda l, d, e: plot_explanation_summary(e), '$$'),
    'bar': (lambda l, d, e: plot_explanation_summary(e, kind='bar'), 'price ($$)'),
    'plot_importance_history': (lambda l, d, e: plot_importance_history(_history()), '$$b'),
}


@pytest.mark.parametrize('name', list(DOLLAR_PLOTS))
def test_dollar_labels_draw_literally(dollars, name):
    "A `$` in a column name, level or class is drawn as a `$` (matplotlib's mathtext raised a ParseException)"
    draw, want = DOLLAR_PLOTS[name]
    texts = drawn_texts(draw(*dollars))
    assert any(want in t for t in texts), (want, texts)


def test_dollar_report(dollars):
    learn, df, ex = dollars
    rep = explanation_report(ex, learn.explain(df.drop(columns='y').iloc[0], seed=0))
    fct.test_eq(len(rep.cases), 13)
    assert '<td>tier</td><td>$$</td>' in rep.html or '<td>tier</td><td>$</td>' in rep.html


def test_dollar_image_and_series_plots():
    "Class names (images) and channel names (series) with dollars; patch importance whose score's name has one"
    imgs, labels, _ = square_images(48, size=16, square=4, seed=0)
    set_seed(0, reproducible=True)
    learn = Learner(image_dls(imgs, np.where(labels == 1, '$$yes', '$no'), bs=16, device='cpu'), small_cnn())
    e = learn.explain(imgs[:2])
    assert any('$$yes' in t or '$no' in t for t in drawn_texts(plot_image_explanation(e, 0).figure))
    assert any('$' in t for t in drawn_texts(plot_image_explanations(e)))
    fi = learn.feature_importance(patch_size=8, n_repeats=1, seed=0, details=True)
    fi.frame.attrs['score'] = 'cost ($$)'                     # a fastai ValueMetric can be named anything
    assert any('cost ($$)' in t for t in drawn_texts(plot_patch_importance(fi, image=imgs[0]).figure))
    x, y, _ = pulse_series(48, length=32, seed=0)
    set_seed(0, reproducible=True)
    sl = Learner(series_dls(x, y, bs=16), small_cnn1d(), loss_func=CrossEntropyLossFlat())
    texts = drawn_texts(plot_series_explanation(sl.explain(x[0]), names=['$a', '$$b', 'c']).figure)
    assert '$$b' in texts and '$a' in texts


# ---------------------------------------------------------------- 3. parquet and feather
@pytest.fixture(scope='module')
def results(reg_learn):
    "Every analysis's result DataFrame on a trained regressor"
    l, rows = reg_learn, synth_df(30, seed=3).drop(columns='y')
    em = l.explain(rows.iloc[:4], seed=0)
    return {'feature_importance': l.feature_importance(n_repeats=2, seed=0, max_samples=200),
            'pd_continuous': l.partial_dependence('x0', max_samples=100),
            'pd_categorical': l.partial_dependence('cat_a', max_samples=100),
            'pd_pair': l.partial_dependence(['x0', 'cat_a'], max_samples=100), 'ale': l.ale('x0', max_samples=100),
            'feature_interactions': l.feature_interactions(max_samples=20, seed=0), 'feature_correlation': l.feature_correlation(),
            'explain_one_row': l.explain(rows.iloc[5], seed=0), 'explain_rows': em, 'explanation_summary': explanation_summary(em),
            'concat_explanations': concat_explanations(em, l.explain(rows.iloc[6], seed=0))}


@pytest.mark.parametrize('fmt', ['parquet', 'feather'])
def test_results_survive_parquet_and_feather(results, fmt, tmp_path):
    "Each result reads back equal, values and attrs (pandas keeps attrs in the file's metadata, as JSON)"
    pytest.importorskip('pyarrow', reason='pyarrow (a test dependency) writes parquet and feather')
    for k, r in results.items():
        p = tmp_path/f'{k}.{fmt}'
        getattr(r, f'to_{fmt}')(p)
        back = getattr(pd, f'read_{fmt}')(p)
        pd.testing.assert_frame_equal(back, r, obj=k)
        if fmt == 'feather' and int(pd.__version__.split('.')[0]) < 3: continue   # pandas 2.2 (the floors) drops attrs in feather
        fct.test_eq(back.attrs, r.attrs)
    # what reads the explanation reads it back the same
    em = results['explain_rows']
    em.to_parquet(tmp_path/'e.parquet'); back = pd.read_parquet(tmp_path/'e.parquet')
    a, b = to_shap(em), to_shap(back)
    fct.test_eq(b.values, a.values); fct.test_eq(b.data, a.data); fct.test_eq(list(b.display_data[0]), list(a.display_data[0]))
    pd.testing.assert_frame_equal(explanation_summary(back), explanation_summary(em))
    fct.test_eq(explanation_report(back).cases, explanation_report(em).cases)


def test_value_is_exact_text(reg_learn):
    "The raw value is text (one type for parquet), exact for numbers: parsed back, it is the number given"
    x = 0.1 + 0.2                                              # 0.30000000000000004: no shorter text reads back as it
    e = reg_learn.explain(pd.Series(dict(x0=x, x1=np.float32(0.1), noise_cont=-1e-20, cat_a='c', noise_cat='u')), seed=0)
    v = e.set_index('feature').value
    fct.test_eq(v['x0'], '0.30000000000000004')
    fct.test_eq(value_numbers([v['x0']])[0], x)
    fct.test_eq(np.float32(value_numbers([v['x1']])[0]), np.float32(0.1))       # a float32's own shortest text
    fct.test_eq(value_numbers([v['noise_cont']])[0], -1e-20)
    fct.test_eq(v['cat_a'], 'c')


# ---------------------------------------------------------------- 4. integer column names
NAMES = {0: 'c0', 1: 'c1', 2: 'c2', 3: 'c3'}


@pytest.fixture(scope='module')
def twins():
    "Two untrained learners with the same weights on the same data: columns 0, 1, 2, 3 and 'c0', ..., 'c3'"
    d = synth_df(300, seed=4)
    d = pd.DataFrame({0: d.x0, 1: d.x1, 2: d.noise_cont, 3: d.cat_a, 'y': d.y})
    out = []
    for df in (d, d.rename(columns=NAMES)):
        set_seed(0, reproducible=True)
        dls = TabularDataLoaders.from_df(df, y_names='y', cat_names=[df.columns[3]], cont_names=list(df.columns[:3]),
                                         procs=[Categorify, FillMissing, Normalize], bs=64, y_block=None,
                                         valid_idx=list(range(200, 300)))
        out.append((tabular_learner(dls, layers=[8]), df))
    out[1][0].model.load_state_dict(out[0][0].model.state_dict())
    return out


def _named(df, cols=()):
    "An int-named result with the int names in `cols` (and in its columns) written as the twin's"
    df = df.rename(columns=NAMES)
    for c in cols: df[c] = df[c].map(NAMES)
    return df


def test_integer_column_names(twins):
    "Every analysis of a learner on columns 0, 1, 2, 3 gives the numbers of its twin on 'c0', ..., 'c3'"
    (li, di), (ls, ds) = twins
    same = lambda a, b, **kw: pd.testing.assert_frame_equal(a, b, check_dtype=False, **kw)   # same weights, rows and seeds
    fi = li.feature_importance(n_repeats=2, seed=0)
    same(_named(fi, ['feature']), ls.feature_importance(n_repeats=2, seed=0))
    fct.test_eq(fi.attrs['repeats'], {'0': 2, '1': 2, '2': 2, '3': 2})           # attrs keep names as str keys (JSON)
    same(_named(li.feature_importance(di.iloc[:50], n_repeats=1, seed=0), ['feature']),
         ls.feature_importance(ds.iloc[:50], n_repeats=1, seed=0))
    same(li.partial_dependence(0), ls.partial_dependence('c0'))
    same(li.partial_dependence(3), ls.partial_dependence('c3'))
    same(_named(li.partial_dependence([0, 3])), ls.partial_dependence(['c0', 'c3']))
    same(li.ale(0), ls.ale('c0'))
    same(_named(li.feature_interactions(max_samples=20, seed=0), ['feature_1', 'feature_2']),
         ls.feature_interactions(max_samples=20, seed=0))
    same(_named(li.feature_correlation()).rename(index=NAMES), ls.feature_correlation())
    ei, es_ = li.explain(di.iloc[:3], seed=0), ls.explain(ds.iloc[:3], seed=0)
    same(_named(ei, ['feature']), es_)
    same(_named(li.explain(di.iloc[0], seed=0), ['feature']), ls.explain(ds.iloc[0], seed=0))
    same(_named(explanation_summary(ei), ['feature']), explanation_summary(es_))
    fct.test_eq(to_shap(ei).values, to_shap(es_).values)
    # plots and the report
    for fig in (plot_importance(fi).figure, plot_partial_dependence(li.partial_dependence(0, details=True)).figure,
                plot_partial_dependence(li.ale(0)).figure, plot_interactions(li.feature_interactions(max_samples=20, seed=0)).figure,
                plot_dendrogram(li.feature_correlation()).figure, plot_explanation(ei, row=1).figure, plot_explanation_summary(ei)):
        assert drawn_texts(fig)
    fct.test_eq(len(explanation_report(ei).cases), 3)
    with pytest.raises(ArgumentError, match=r"Unknown feature 7 in feature.*Valid features: \[3, 0, 1, 2\]"):
        li.partial_dependence(7)


# ---------------------------------------------------------------- 5. clear errors where raw ones were
def test_duplicate_column_names(reg_learn):
    df = synth_df(50, seed=1)
    dup = pd.concat([df, df[['x0']]], axis=1)
    with pytest.raises(DataError, match=r"name\(s\) \['x0'\] appear more than once in the DataFrame passed as `dl`.*duplicated"):
        reg_learn.feature_importance(dup, n_repeats=1)
    with pytest.raises(DataError, match=r"\['x0'\] appear more than once in the rows to explain"):
        reg_learn.explain(dup.iloc[:2])


def test_numeric_text_is_read_as_the_number(reg_learn):
    "A number written as text ('1.5') is that number, as pd.read_csv would read it; other text names its column and value"
    row = _rows(0, 1).iloc[0]
    txt = row.astype(object).copy(); txt['x0'] = str(row['x0'])
    a, b = reg_learn.explain(row, seed=0), reg_learn.explain(txt, seed=0)
    pd.testing.assert_frame_equal(a, b)                       # literally the same computation
    df = synth_df(60, seed=1)
    pd.testing.assert_frame_equal(reg_learn.feature_importance(df.astype({'x1': str}), n_repeats=1, seed=0),
                                  reg_learn.feature_importance(df, n_repeats=1, seed=0))
    bad = txt.copy(); bad['x0'] = '1,5'
    with pytest.raises(DataError, match=r"Column 'x0' of the rows to explain is continuous.*not numbers \(\['1,5'\]"):
        reg_learn.explain(bad)


def test_nan_without_a_fill_value_is_named(reg_learn):
    "NaN in a column that had none in training: fastai's FillMissing only asserts; the error names the column and the fix"
    df = synth_df(60, seed=1).assign(x0=np.nan)
    for call in (lambda: reg_learn.feature_importance(df, n_repeats=1), lambda: reg_learn.partial_dependence('x1', dl=df),
                 lambda: reg_learn.explain(df.iloc[:2])):
        with pytest.raises(DataError, match=r"Column\(s\) \['x0'\] of .* hold NaN \(in \d+ of \d+ rows\).*no fill value.*dropna"):
            call()


@pytest.mark.parametrize('shard', ['jobs', 'rows'])
def test_not_finite_baseline_says_why(shard):
    "A NaN baseline blames what is NaN: the inputs (named), the model's predictions, or else the targets and the metric"
    df = synth_df(300, seed=0)
    set_seed(0, reproducible=True)
    dls = TabularDataLoaders.from_df(df, y_names='y', cat_names=['cat_a', 'noise_cat'], cont_names=['x0', 'x1', 'noise_cont'],
                                     procs=[Categorify, Normalize], bs=64, y_block=None)     # no FillMissing: NaN goes through
    learn = tabular_learner(dls, layers=[8])
    nan_dl = learn.dls.test_dl(df.assign(x1=np.where(np.arange(300) < 7, np.nan, df.x1)), with_labels=True)
    with pytest.raises(DataError, match=r"model's inputs hold NaN or inf in column\(s\) \['x1'\] \(7 of the 300 rows\)"):
        learn.feature_importance(nan_dl, n_repeats=1, shard=shard)
    learn2 = tiny()
    with torch.no_grad(): learn2.model.layers[-1][0].bias.fill_(float('nan'))
    with pytest.raises(DataError, match=r"the model predicts NaN or inf for 200 of the 200 rows, although their inputs are finite"):
        learn2.feature_importance(n_repeats=1, shard=shard)
    assert (synth_df(800).y < -1).any()                                         # msle is NaN for them
    with pytest.raises(DataError, match=r"inputs, the model's predictions and the targets are finite.*msle is NaN"):
        tiny().feature_importance(metric=msle, n_repeats=1, shard=shard)


# ---------------------------------------------------------------- 6. unseen category levels: one rule
def test_unseen_levels_in_data_are_read_as_fastai_reads_them(reg_learn):
    "Rows of data (dl=df, explained rows, backgrounds) read an unseen level as '#na#' with a warning; a grid value is refused"
    df = synth_df(60, seed=1)
    un = df.assign(cat_a=np.where(np.arange(60) < 5, 'zz', df.cat_a))
    na = df.assign(cat_a=np.where(np.arange(60) < 5, np.nan, df.cat_a))             # what Categorify reads 'zz' as
    msg = r"5 of 60 rows have level\(s\) \['zz'\] of 'cat_a' that the learner never saw.*'#na#' \(code 0\)"
    with pytest.warns(UserWarning, match=r"The DataFrame passed as `dl`: " + msg):
        fi = reg_learn.feature_importance(un, n_repeats=1, seed=0)
    pd.testing.assert_frame_equal(fi, reg_learn.feature_importance(na, n_repeats=1, seed=0))
    with pytest.warns(UserWarning, match=msg): pdu = reg_learn.partial_dependence('x0', dl=un, grid=[0., 1.])
    pd.testing.assert_frame_equal(pdu, reg_learn.partial_dependence('x0', dl=na, grid=[0., 1.]))
    rows = un.drop(columns='y').iloc[:2]
    with pytest.warns(UserWarning, match=r"The rows to explain: 2 of 2 rows have level\(s\) \['zz'\]"):
        e = reg_learn.explain(rows, seed=0)
    fct.test_eq(list(e[e.feature == 'cat_a'].value), ['zz', 'zz'])                  # the value as given
    ref = reg_learn.explain(na.drop(columns='y').iloc[:2], seed=0)
    fct.test_eq(e.contribution.to_numpy(), ref.contribution.to_numpy())
    # fastai's own reading of the row (get_preds on test_dl): a batch of 2 there, of 50 here, so not to the last bit
    fct.test_close(e.groupby('row').prediction.first().to_numpy(), brute_force_preds(reg_learn, rows, {})[:, 0], eps=1e-5)
    with pytest.warns(UserWarning, match=r"The background: 5 of 10 rows"):
        reg_learn.explain(rows.iloc[0].replace('zz', 'a'), background=un.drop(columns='y').iloc[:10], seed=0)
    with pytest.raises(ArgumentError, match=r"\['zz'\] is not a level of 'cat_a' in grid"):
        reg_learn.partial_dependence('cat_a', grid=['a', 'zz'])
