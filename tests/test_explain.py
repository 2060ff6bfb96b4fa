"`learn.explain` of tabular rows: fastinterp's batched Shapley values, exact or sampled, and captum's other methods (texts: test_explain_text.py)."
import sys
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastai.tabular.all import TabularDataLoaders, tabular_learner, Categorify, FillMissing, Normalize, set_seed
from fastinterp.all import *
from fastinterp.synth import synth_df
from fastinterp.attribution import captum_attr
from fastinterp.outputs import row_targets
from helpers import rng_states, same_rng

TOL = 1e-4   # base + sum(contributions) == prediction within TOL*(1+|prediction|) for the Shapley methods


def _row(**kw):
    r = dict(x0=0.0, x1=0.0, noise_cont=0.0, cat_a='b', noise_cat='u')
    r.update(kw)
    return pd.Series(r)


def _gap(e):
    "max |prediction - base - sum(contributions)| over the rows of an explanation, from its columns"
    if 'row' in e.columns:
        g = e.groupby('row', sort=False)
        return float((g.prediction.first() - g.base_value.first() - g.contribution.sum()).abs().max())
    return abs(e.attrs['prediction'] - e.attrs['base_value'] - e.contribution.sum())


def _check_additive(e):
    if 'row' in e.columns:
        for rid, g in e.groupby('row'):
            base, pred = g.base_value.iloc[0], g.prediction.iloc[0]
            assert g.base_value.nunique() == 1 and g.prediction.nunique() == 1
            assert abs(base + g.contribution.sum() - pred) <= TOL * (1 + abs(pred))
    else:
        base, pred = e.attrs['base_value'], e.attrs['prediction']
        assert abs(base + e.contribution.sum() - pred) <= TOL * (1 + abs(pred))


# ---------------------------------------------------------------- tabular
@pytest.mark.parametrize('exact', [None, False])   # None: 5 features are enumerated exactly; False: sampled walks
@pytest.mark.parametrize('which', ['reg_learn', 'clf_learn', 'na_learn'])
def test_additivity_many_rows(which, exact, request):
    learn = request.getfixturevalue(which)
    df = synth_df(12, seed=7, missing=0.3 if which == 'na_learn' else 0.)
    e = learn.explain(df, seed=0, n_background=20, n_samples=10, exact=exact)
    fct.test_eq(e.attrs['n_samples'], None if exact is None else 10)
    fct.test_eq(list(e.columns), ['row', 'feature', 'value', 'contribution', 'se', 'target', 'base_value', 'prediction']
                + (['predicted'] if which == 'clf_learn' else []))          # a classifier's predicted class, per row
    fct.test_eq(len(e), 12 * 5)
    fct.test_eq(list(pd.unique(e.row)), list(df.index))
    _check_additive(e)
    fct.test_close(e.attrs['additivity_gap'], _gap(e), eps=1e-9)
    for _, g in e.groupby('row'):   # sorted by |contribution| within each row
        assert (np.diff(g.contribution.abs().to_numpy()) <= 1e-12).all()
    # the prediction column is the model's prediction, as get_preds gives it
    with learn.no_bar(): preds, _ = learn.get_preds(dl=learn.dls.test_dl(df.drop(columns='y')))
    col = 1 if which == 'clf_learn' else 0
    fct.test_close(e.groupby('row', sort=False).prediction.first().to_numpy(), preds[:, col].numpy(), eps=1e-5)
    if which == 'clf_learn':   # the predicted class is get_preds' argmax, named by the learner's vocab
        vocab = list(learn.dls.vocab)
        fct.test_eq(list(e.groupby('row', sort=False).predicted.first()), [vocab[i] for i in preds.argmax(1).tolist()])
        one = learn.explain(df.drop(columns='y').iloc[0], seed=0, n_background=20, n_samples=10, exact=exact)
        fct.test_eq(one.attrs['predicted'], vocab[int(preds[0].argmax())])
    else: assert 'predicted' not in e.attrs and 'predicted' not in e.columns   # a regression has no predicted class


def test_one_row_dataframe(reg_learn):
    "A DataFrame of one row is a many-row explanation (long format), a Series is the one-row format"
    df = synth_df(1, seed=3)
    e = reg_learn.explain(df, seed=0, n_samples=5)
    fct.test_eq(list(e.columns), ['row', 'feature', 'value', 'contribution', 'se', 'target', 'base_value', 'prediction'])
    s = reg_learn.explain(df.iloc[0], seed=0, n_samples=5)
    fct.test_eq(list(s.columns), ['feature', 'value', 'contribution', 'se'])
    fct.test_close(e.contribution.to_numpy(), s.contribution.to_numpy(), eps=1e-9)
    fct.test_close(e.prediction.iloc[0], s.attrs['prediction'], eps=1e-9)


def test_details(reg_learn):
    df = synth_df(4, seed=2)
    r = reg_learn.explain(df, seed=0, n_samples=5, details=True)
    fct.test_eq(r.contributions.shape, (4, 5))
    fct.test_eq(r.rows, list(df.index))
    fct.test_close(r.base + r.contributions.sum(1), r.prediction, eps=1e-4)
    long = r.frame.set_index(['row', 'feature']).contribution
    for i, rid in enumerate(r.rows):
        for j, f in enumerate(r.features): fct.test_close(long[rid, f], r.contributions[i, j], eps=1e-12)


@pytest.mark.parametrize('x0', [3.0, -3.0])
def test_driving_feature_regression(reg_learn, x0):
    e = reg_learn.explain(_row(x0=x0, x1=0.3, noise_cont=2.0, noise_cat='w'), seed=0)
    _check_additive(e)
    fct.test_eq(e.feature[0], 'x0')
    c = e.set_index('feature').contribution
    assert np.sign(c['x0']) == np.sign(x0)
    fct.test_close(c['x0'], 2 * x0, eps=1.0)                # y = 2*x0 + ...; background mean of x0 is about 0
    assert c[['noise_cont', 'noise_cat']].abs().max() < 0.3


def test_driving_feature_classification(clf_learn):
    e = clf_learn.explain(_row(x0=2.5, x1=-0.2), target='pos', seed=0)
    fct.test_eq(e.feature[0], 'x0')
    assert e.contribution[0] > 0
    _check_additive(e)
    e_pos = clf_learn.explain(_row(x0=2.5, x1=-0.2), seed=0)
    fct.test_eq(e_pos.attrs['target'], 'pos')                   # binary: the positive class by default
    assert e_pos.attrs['prediction'] > 0.5
    e_neg = clf_learn.explain(_row(x0=2.5, x1=-0.2), target=0, seed=0)   # by index
    fct.test_eq(e_neg.attrs['target'], 'neg')
    fct.test_close(e_neg.attrs['prediction'] + e_pos.attrs['prediction'], 1, eps=1e-5)


def test_binary_default_is_positive_class_even_when_predicted_negative(clf_learn):
    e = clf_learn.explain(_row(x0=-2.5), seed=0, n_samples=5)
    fct.test_eq(e.attrs['target'], 'pos')
    assert e.attrs['prediction'] < 0.5
    assert e.set_index('feature').contribution['x0'] < 0      # x0 pushes towards 'neg', i.e. down for 'pos'
    df = pd.DataFrame([_row(x0=2.5), _row(x0=-2.5)])
    many = clf_learn.explain(df, seed=0, n_samples=5)
    fct.test_eq(set(many.target), {'pos'})
    _check_additive(many)


@pytest.fixture(scope='module')
def multi_learn():
    "A 3-class TabularLearner (classes 'hi', 'lo', 'mid' from the synth signal), briefly trained"
    df = synth_df(600, seed=1)
    df['y'] = pd.cut(df.y, [-np.inf, -1, 1, np.inf], labels=['lo', 'mid', 'hi']).astype(str)
    set_seed(0, reproducible=True)
    dls = TabularDataLoaders.from_df(df, y_names='y', cat_names=['cat_a', 'noise_cat'], cont_names=['x0', 'x1', 'noise_cont'],
                                     procs=[Categorify, FillMissing, Normalize], valid_idx=list(range(450, 600)), bs=64)
    learn = tabular_learner(dls, layers=[16])
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(2, 3e-2)
    return learn


def test_per_row_predicted_class(multi_learn):
    "A multi-class classifier: each row is explained for its own predicted class; averaging analyses need target="
    df = synth_df(6, seed=4)
    e = multi_learn.explain(df, seed=0, n_samples=5)
    with multi_learn.no_bar(): preds, _ = multi_learn.get_preds(dl=multi_learn.dls.test_dl(df.drop(columns='y')))
    vocab = list(multi_learn.dls.vocab)
    fct.test_eq(list(e.groupby('row', sort=False).target.first()), [vocab[i] for i in preds.argmax(1).tolist()])
    fct.test_close(e.groupby('row', sort=False).prediction.first().to_numpy(), preds.max(1).values.numpy(), eps=1e-5)
    _check_additive(e)
    with pytest.raises(ArgumentError, match='pass target= one of them, or all'): multi_learn.partial_dependence('x0')
    with pytest.raises(ArgumentError, match='pass target= one of them'): multi_learn.ale('x0')
    fct.test_eq(multi_learn.partial_dependence('x0', target='hi', grid_resolution=2).attrs['target'], 'hi')
    fct.test_eq(multi_learn.explain(df.iloc[0], target='mid', seed=0, n_samples=3).attrs['target'], 'mid')


def test_fillmissing_joins_parent(na_learn):
    assert 'x1_na' in na_learn.dls.cat_names
    e = na_learn.explain(_row(x0=1.0, x1=np.nan), seed=0)
    fct.test_eq(sorted(e.feature), sorted(['x0', 'x1', 'noise_cont', 'cat_a', 'noise_cat']))
    assert pd.isna(e.set_index('feature').loc['x1', 'value'])
    _check_additive(e)


def test_values_are_raw(reg_learn):
    r = _row(x0=1.234, cat_a='c')
    e = reg_learn.explain(r, seed=0).set_index('feature')
    fct.test_eq(e.loc['x0', 'value'], '1.234')      # the raw value as text: exact, and one type for parquet (test_inputs.py)
    fct.test_eq(e.loc['cat_a', 'value'], 'c')


def test_background_dataframe(reg_learn):
    "With one background row, base_value is that row's prediction; Shapley is exact with a single baseline"
    bg = pd.DataFrame([_row(x0=-1.0, cat_a='a')])
    e = reg_learn.explain(_row(x0=1.0, cat_a='c'), background=bg, seed=0)
    e_self = reg_learn.explain(bg.iloc[0], background=bg, seed=0)
    fct.test_close(e.attrs['base_value'], e_self.attrs['prediction'], eps=1e-5)
    fct.test_close(e_self.contribution.abs().max(), 0, eps=1e-5)   # explaining the baseline itself: nothing to attribute
    fct.test_eq(e.attrs['n_background'], 1)
    big = synth_df(200, seed=3)
    fct.test_eq(reg_learn.explain(_row(), background=big, n_background=30, seed=0).attrs['n_background'], 200)   # all of it


def test_seed_and_side_effects(reg_learn):
    df = synth_df(3, seed=2)
    df_copy = df.copy()
    reg_learn.model.train()                                     # modes must come back as they were
    try:
        flags = [m.training for m in reg_learn.model.modules()]
        st = rng_states()
        e1 = reg_learn.explain(df, seed=5, n_samples=5, exact=False)
        assert same_rng(st, rng_states())
        fct.test_eq([m.training for m in reg_learn.model.modules()], flags)
    finally: reg_learn.model.eval()
    pd.testing.assert_frame_equal(df, df_copy)
    e2 = reg_learn.explain(df, seed=5, n_samples=5, exact=False)
    pd.testing.assert_frame_equal(e1, e2)
    assert not hasattr(reg_learn, 'df')


@pytest.mark.parametrize('method', ['ablation', 'kernel_shap'])
def test_other_methods(reg_learn, method):
    e = reg_learn.explain(_row(x0=3.0), method=method, seed=0, n_background=10, n_samples=50)
    fct.test_eq(e.feature[0], 'x0')
    fct.test_eq(e.attrs['method'], method)
    assert e.set_index('feature').contribution['x0'] > 0
    # not additive by design: the reported gap is the gap of the returned numbers
    fct.test_close(e.attrs['additivity_gap'], _gap(e), eps=1e-9)


def test_method_class(reg_learn):
    ca = captum_attr()
    e = reg_learn.explain(_row(x0=3.0), method=ca.FeatureAblation, seed=0, n_background=10)
    fct.test_eq(e.attrs['method'], 'FeatureAblation')
    ab = reg_learn.explain(_row(x0=3.0), method='ablation', seed=0, n_background=10)
    fct.test_close(e.contribution.to_numpy(), ab.contribution.to_numpy(), eps=1e-9)   # the name is the class
    with pytest.raises(ArgumentError, match='PerturbationAttribution'):
        reg_learn.explain(_row(), method=ca.IntegratedGradients)


def test_bad_tabular_input(reg_learn, clf_learn):
    with pytest.raises(DataError, match=r"Column\(s\) \['x1'\] that the learner was trained on are missing from the rows"):
        reg_learn.explain(_row().drop('x1'))
    with pytest.raises(ArgumentError, match=r"Unknown target 'maybe'.*\['neg', 'pos'\]"):
        clf_learn.explain(_row(), target='maybe')
    with pytest.raises(ArgumentError, match="Unknown target 'z'"):
        reg_learn.explain(_row(), target='z')
    with pytest.raises(ArgumentError, match="target='all' is for partial dependence"):
        clf_learn.explain(_row(), target='all')
    with pytest.raises(ArgumentError, match='Unknown method'):
        reg_learn.explain(_row(), method='shap')
    with pytest.raises(ArgumentError, match='empty'):
        reg_learn.explain(synth_df(3).iloc[:0])
    with pytest.raises(ArgumentError, match='DataFrame or Series'):
        reg_learn.explain([1, 2, 3])
    with pytest.raises(ArgumentError, match='n_samples must be a positive int'):
        reg_learn.explain(_row(), n_samples=0)
    with pytest.raises(ArgumentError, match='reset_index'):
        reg_learn.explain(pd.DataFrame([_row(), _row()], index=[0, 0]))


def test_unseen_category_is_read_as_na_with_a_warning(reg_learn):
    "An unseen level is read as fastai reads it ('#na#', code 0, as learn.predict does), with a warning naming it (test_inputs.py)"
    with pytest.warns(UserWarning, match=r"1 of 1 rows have level\(s\) \['zz'\] of 'cat_a' that the learner never saw.*'#na#'"):
        reg_learn.explain(_row(cat_a='zz'), seed=0, n_samples=3)
    with pytest.warns(UserWarning, match=r"1 of 2 rows have level\(s\) \['q'\] of 'noise_cat'"):
        reg_learn.explain(pd.DataFrame([_row(), _row(noise_cat='q')]), seed=0, n_samples=3)
    e = reg_learn.explain(_row(cat_a=np.nan), seed=0, n_samples=3)   # missing is not unseen
    assert pd.isna(e.set_index('feature').loc['cat_a', 'value'])


def test_captum_missing(reg_learn, monkeypatch):
    "Without captum, a captum method says how to install it"
    monkeypatch.setitem(sys.modules, 'captum', None)
    monkeypatch.setitem(sys.modules, 'captum.attr', None)
    with pytest.raises(ImportError, match=r'Install it with: pip install "captum>=0.7"'):
        reg_learn.explain(_row(), method='ablation')


def test_row_targets(clf_learn):
    preds = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    idx, labels = row_targets(clf_learn, None, preds)
    fct.test_eq(idx.tolist(), [1, 1])                            # binary: the positive class, whatever the prediction
    fct.test_eq(labels, ['pos', 'pos'])
    idx, labels = row_targets(clf_learn, -2, preds)
    fct.test_eq((idx.tolist(), labels), ([0, 0], ['neg', 'neg']))


def test_plot_explanation(reg_learn):
    import matplotlib.axes
    e = reg_learn.explain(_row(x0=2.0), seed=0)
    ax = plot_explanation(e)
    assert isinstance(ax, matplotlib.axes.Axes)
    fct.test_eq(len(ax.patches), 5)
    # a waterfall: the bars run from the base value to the prediction
    fct.test_close(ax.patches[0].get_x(), e.attrs['base_value'], eps=1e-9)
    fct.test_close(ax.patches[-1].get_x() + ax.patches[-1].get_width(), e.attrs['prediction'], eps=1e-4)
    ax = plot_explanation(e, top_k=2)
    fct.test_eq(len(ax.patches), 3)                              # 2 features + 'other features'
    fct.test_eq(ax.get_yticklabels()[0].get_text(), 'x0 = 2')
    many = reg_learn.explain(synth_df(3, seed=1), seed=0, n_samples=5)
    with pytest.raises(ArgumentError, match='pass row='):
        plot_explanation(many)
    ax = plot_explanation(many, row=1)
    fct.test_eq(len(ax.patches), 5)
    one = many[many.row == 1]
    fct.test_close(ax.patches[0].get_x(), one.base_value.iloc[0], eps=1e-9)
    with pytest.raises(ArgumentError, match='without the columns'):
        plot_explanation(pd.DataFrame({'a': [1]}))
