"`learn.explain`: tabular rows (captum Shapley sampling) and text classifiers (integrated gradients on embeddings)."
import random, sys
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastinterp.synth import synth_df, synth_text_learner
from fastinterp.explain import captum_attr, plot_explanation, resolve_target, EXPLAIN_METHODS
from fastinterp.explain_text import explanation_html, embedding_layer

TOL = 1e-4   # base + sum(contributions) == prediction within TOL*(1+|prediction|) for the Shapley methods


def _rng_state():
    return random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state().clone()


def _same_rng(a, b):
    return a[0] == b[0] and (a[1] == b[1]).all() and torch.equal(a[2], b[2])


def _row(**kw):
    r = dict(x0=0.0, x1=0.0, noise_cont=0.0, cat_a='b', noise_cat='u')
    r.update(kw)
    return pd.Series(r)


def _check_additive(e):
    if 'row' in e.columns:
        for rid, g in e.groupby('row'):
            base, pred = e.attrs['base_value'][rid], e.attrs['prediction'][rid]
            assert abs(base + g.contribution.sum() - pred) <= TOL * (1 + abs(pred))
    else:
        base, pred = e.attrs['base_value'], e.attrs['prediction']
        assert abs(base + e.contribution.sum() - pred) <= TOL * (1 + abs(pred))


# ---------------------------------------------------------------- tabular
@pytest.mark.parametrize('which', ['reg_learn', 'clf_learn', 'na_learn'])
def test_additivity_many_rows(which, request):
    learn = request.getfixturevalue(which)
    df = synth_df(12, seed=7, missing=0.3 if which == 'na_learn' else 0.)
    e = learn.explain(df, seed=0, n_background=20, n_samples=10)
    fct.test_eq(list(e.columns), ['row', 'feature', 'value', 'contribution'])
    fct.test_eq(len(e), 12 * 5)
    fct.test_eq(list(pd.unique(e.row)), list(df.index))
    _check_additive(e)
    assert e.attrs['additivity_gap'] <= TOL * (1 + max(abs(v) for v in e.attrs['prediction'].values()))
    for _, g in e.groupby('row'):   # sorted by |contribution| within each row
        assert (np.diff(g.contribution.abs().to_numpy()) <= 1e-12).all()


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
    e_pred = clf_learn.explain(_row(x0=2.5, x1=-0.2), seed=0)
    fct.test_eq(e_pred.attrs['target'], 'pos')                  # the predicted class by default
    assert e_pred.attrs['prediction'] > 0.5
    e_neg = clf_learn.explain(_row(x0=2.5, x1=-0.2), target=0, seed=0)   # by index
    fct.test_eq(e_neg.attrs['target'], 'neg')
    fct.test_close(e_neg.attrs['prediction'] + e_pred.attrs['prediction'], 1, eps=1e-5)


def test_per_row_predicted_class(clf_learn):
    df = pd.DataFrame([_row(x0=2.5), _row(x0=-2.5)])
    e = clf_learn.explain(df, seed=0, n_samples=5)
    fct.test_eq(e.attrs['target'], {0: 'pos', 1: 'neg'})
    _check_additive(e)


def test_fillmissing_joins_parent(na_learn):
    assert 'x1_na' in na_learn.dls.cat_names
    e = na_learn.explain(_row(x0=1.0, x1=np.nan), seed=0)
    fct.test_eq(sorted(e.feature), sorted(['x0', 'x1', 'noise_cont', 'cat_a', 'noise_cat']))
    assert pd.isna(e.set_index('feature').loc['x1', 'value'])
    _check_additive(e)


def test_values_are_raw(reg_learn):
    r = _row(x0=1.234, cat_a='c')
    e = reg_learn.explain(r, seed=0).set_index('feature')
    fct.test_eq(e.loc['x0', 'value'], 1.234)
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
    fct.test_eq(reg_learn.explain(_row(), background=big, n_background=30, seed=0).attrs['n_background'], 30)


def test_seed_and_side_effects(reg_learn):
    df = synth_df(3, seed=2)
    df_copy = df.copy()
    reg_learn.model.train()                                     # modes must come back as they were
    flags = [m.training for m in reg_learn.model.modules()]
    st = _rng_state()
    e1 = reg_learn.explain(df, seed=5, n_samples=5)
    assert _same_rng(st, _rng_state())
    fct.test_eq([m.training for m in reg_learn.model.modules()], flags)
    reg_learn.model.eval()
    pd.testing.assert_frame_equal(df, df_copy)
    e2 = reg_learn.explain(df, seed=5, n_samples=5)
    pd.testing.assert_frame_equal(e1, e2)
    assert not hasattr(reg_learn, 'df')


@pytest.mark.parametrize('method', ['ablation', 'kernel_shap'])
def test_other_methods(reg_learn, method):
    e = reg_learn.explain(_row(x0=3.0), method=method, seed=0, n_background=10, n_samples=50)
    fct.test_eq(e.feature[0], 'x0')
    fct.test_eq(e.attrs['method'], method)
    assert np.isfinite(e.attrs['additivity_gap'])


def test_method_class(reg_learn):
    ca = captum_attr()
    e = reg_learn.explain(_row(x0=3.0), method=ca.FeatureAblation, seed=0, n_background=10)
    fct.test_eq(e.attrs['method'], 'FeatureAblation')
    with pytest.raises(TypeError, match='PerturbationAttribution'):
        reg_learn.explain(_row(), method=ca.IntegratedGradients)
    assert set(EXPLAIN_METHODS) >= {'shapley', 'kernel_shap', 'ablation'}


def test_bad_tabular_input(reg_learn, clf_learn):
    with pytest.raises(KeyError, match=r"lack column\(s\) \['x1'\]"):
        reg_learn.explain(_row().drop('x1'))
    with pytest.raises(ValueError, match=r"Unknown target 'maybe': the classes are \['neg', 'pos'\]"):
        clf_learn.explain(_row(), target='maybe')
    with pytest.raises(ValueError, match="Unknown target 'z'"):
        reg_learn.explain(_row(), target='z')
    with pytest.raises(ValueError, match='Unknown method'):
        reg_learn.explain(_row(), method='shap')
    with pytest.raises(ValueError, match='empty'):
        reg_learn.explain(synth_df(3).iloc[:0])
    with pytest.raises(TypeError, match='DataFrame or Series'):
        reg_learn.explain([1, 2, 3])
    with pytest.raises(ValueError, match='n_samples'):
        reg_learn.explain(_row(), n_samples=0)
    with pytest.raises(ValueError, match='reset_index'):
        reg_learn.explain(pd.DataFrame([_row(), _row()], index=[0, 0]))


def test_captum_missing(reg_learn, monkeypatch):
    monkeypatch.setitem(sys.modules, 'captum', None)
    monkeypatch.setitem(sys.modules, 'captum.attr', None)
    with pytest.raises(ImportError, match=r'Install it with: pip install "captum>=0.7"'):
        reg_learn.explain(_row())


def test_resolve_target(clf_learn):
    idx, labels = resolve_target(clf_learn, None, torch.tensor([[0.9, 0.1], [0.2, 0.8]]))
    fct.test_eq(idx.tolist(), [0, 1])
    fct.test_eq(labels, ['neg', 'pos'])


def test_plot_explanation(reg_learn):
    import matplotlib.axes
    e = reg_learn.explain(_row(x0=2.0), seed=0)
    ax = plot_explanation(e)
    assert isinstance(ax, matplotlib.axes.Axes)
    fct.test_eq(len(ax.patches), 5)
    ax = plot_explanation(e, top_k=2)
    fct.test_eq(len(ax.patches), 3)                              # 2 features + 'other features'
    fct.test_eq(ax.get_yticklabels()[0].get_text(), 'x0 = 2')
    many = reg_learn.explain(synth_df(3, seed=1), seed=0, n_samples=5)
    with pytest.raises(ValueError, match='pass row='):
        plot_explanation(many)
    fct.test_eq(len(plot_explanation(many, row=1).patches), 5)
    with pytest.raises(ValueError, match='missing columns'):
        plot_explanation(pd.DataFrame({'a': [1]}))


# ---------------------------------------------------------------- text
@pytest.fixture(scope='module')
def text_learn():
    "Tiny AWD_LSTM trained from scratch: label 'high' exactly when the sentence contains 'family'"
    return synth_text_learner()


SENT = "the nurse saw the family after lunch today"


def test_text_trigger_top(text_learn):
    e = text_learn.explain(SENT)
    fct.test_eq(list(e.columns), ['token', 'attribution', 'special', 'known'])
    fct.test_eq(e.token[e.attribution.abs().idxmax()], 'family')
    assert e.attribution.max() == e.set_index('token').loc['family', 'attribution']
    fct.test_eq(e.attrs['target'], 'high')
    assert e.attrs['prediction'] > 0.5
    # integrated gradients' completeness, to captum's convergence error
    fct.test_close(e.attrs['base_value'] + e.attribution.sum(), e.attrs['prediction'], eps=0.02)
    e2 = text_learn.explain("no pain reported by the family and the nurse")
    fct.test_eq(e2.token[e2.attribution.abs().idxmax()], 'family')


def test_text_target_and_special(text_learn):
    e = text_learn.explain("The Nurse saw family", target='low')
    fct.test_eq(e.attrs['target'], 'low')
    assert e.set_index('token').loc['family', 'attribution'] < 0
    fct.test_eq(list(e.token[:3]), ['xxbos', 'xxmaj', 'the'])     # special tokens shown, flagged
    fct.test_eq(list(e.special[:3]), [True, True, False])
    fct.test_eq(e.known[e.token == 'saw'].item(), False)          # out of vocabulary: the model saw xxunk


def test_text_no_side_effects(text_learn):
    text_learn.model.train()
    flags = [m.training for m in text_learn.model.modules()]
    st = _rng_state()
    e1 = text_learn.explain(SENT)
    assert _same_rng(st, _rng_state())
    fct.test_eq([m.training for m in text_learn.model.modules()], flags)
    text_learn.model.eval()
    pd.testing.assert_frame_equal(e1, text_learn.explain(SENT))   # deterministic
    layer = embedding_layer(text_learn.model, torch.tensor([[2, 9, 10]]))
    assert layer is text_learn.model[0].module.encoder_dp        # AWD_LSTM calls encoder_dp, not encoder


def test_text_bad_input(text_learn, monkeypatch):
    with pytest.raises(ValueError, match='The text is empty'):
        text_learn.explain("")
    with pytest.raises(ValueError, match='The text is empty'):
        text_learn.explain("   ")
    with pytest.raises(TypeError, match='one text as a str'):
        text_learn.explain(["a", "b"])
    with pytest.raises(ValueError, match=r"Unknown target 'medium': the classes are \['high', 'low'\]"):
        text_learn.explain(SENT, target='medium')
    monkeypatch.setitem(sys.modules, 'captum', None)
    monkeypatch.setitem(sys.modules, 'captum.attr', None)
    with pytest.raises(ImportError, match=r'Install it with: pip install "captum>=0.7"'):
        text_learn.explain(SENT)


def test_text_html(text_learn):
    e = text_learn.explain(SENT)
    h = explanation_html(e)
    s = explanation_html(e, as_str=True)
    fct.test_eq(h.data, s)
    fct.test_eq(s.count('<span'), len(e))
    assert 'rgba(0,160,0,1.00)' in s and '>family<' in s
    assert '&lt;b&gt;' in explanation_html(pd.DataFrame({'token': ['<b>'], 'attribution': [0.1]}), as_str=True)
