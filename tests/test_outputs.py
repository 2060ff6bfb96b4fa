"""Issue 9: one rule for `target=` in every analysis. None -> the only output / the positive (second) class of a binary
classifier / each row's predicted class of a multi-class classifier; labels, names, ints (negative too); 'all' only
for partial_dependence; unnamed outputs are 'output_0', 'output_1', ... (The old code had one rule per analysis:
explain defaulted to the predicted class, partial dependence to the positive one, and negative ints failed.)"""
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastai.losses import MSELossFlat
from fastai.tabular.all import TabularDataLoaders, TabularLearner, TabularModel, tabular_learner, Categorify, Normalize, set_seed
from fastinterp.all import *
from fastinterp.synth import synth_df
from helpers import valid_df, brute_force_preds

ROW = pd.Series(dict(x0=-0.5, x1=0.2, noise_cont=0.0, cat_a='b', noise_cat='u'))


def test_negative_target_agrees(clf_learn):
    "target=-1 is the last class, 'pos', in partial_dependence and explain alike"
    p_neg1 = clf_learn.partial_dependence('x0', grid_resolution=3, target=-1, seed=0)
    p_pos = clf_learn.partial_dependence('x0', grid_resolution=3, target='pos', seed=0)
    fct.test_eq(p_neg1.attrs['target'], 'pos')
    pd.testing.assert_frame_equal(p_neg1, p_pos)
    e_neg1 = clf_learn.explain(ROW, target=-1, seed=0, n_samples=3)
    e_pos = clf_learn.explain(ROW, target='pos', seed=0, n_samples=3)
    fct.test_eq(e_neg1.attrs['target'], 'pos')
    pd.testing.assert_frame_equal(e_neg1, e_pos)
    fct.test_eq(clf_learn.partial_dependence('x0', grid_resolution=3, target=-2, seed=0).attrs['target'], 'neg')
    fct.test_eq(clf_learn.explain(ROW, target=-2, seed=0, n_samples=3).attrs['target'], 'neg')
    for f in (lambda: clf_learn.partial_dependence('x0', target=-3), lambda: clf_learn.explain(ROW, target=-3)):
        with pytest.raises(ArgumentError, match='out of range'): f()


def test_binary_default_is_positive_class(clf_learn):
    "Both analyses look at 'pos' by default, even for a row the model predicts 'neg'"
    p = clf_learn.partial_dependence('x0', grid_resolution=3, seed=0)
    fct.test_eq(p.attrs['target'], 'pos')
    df = valid_df(clf_learn, kind='classification').drop(columns='y')
    ref = [brute_force_preds(clf_learn, df, {'x0': v})[:, 1].mean() for v in p.value]
    fct.test_close(p.average.to_numpy(), ref, eps=1e-5)
    e = clf_learn.explain(ROW, seed=0, n_samples=3)
    fct.test_eq(e.attrs['target'], 'pos')
    pred = brute_force_preds(clf_learn, ROW.to_frame().T.infer_objects(), {})[0]
    assert pred[1] < 0.5                                          # the model predicts 'neg' for this row
    fct.test_close(e.attrs['prediction'], pred[1], eps=1e-5)


@pytest.fixture(scope='module')
def two_out_learn():
    "A TabularLearner whose model has 2 outputs that nothing names (one target column 'y')"
    df = synth_df(300)
    set_seed(0, reproducible=True)
    dls = TabularDataLoaders.from_df(df, y_names='y', cat_names=['cat_a', 'noise_cat'], cont_names=['x0', 'x1', 'noise_cont'],
                                     procs=[Categorify, Normalize], bs=64, valid_idx=list(range(200, 300)))
    model = TabularModel([(4, 3), (4, 3)], 3, out_sz=2, layers=[8])
    return TabularLearner(dls, model, loss_func=MSELossFlat())


def test_unnamed_outputs(two_out_learn):
    learn = two_out_learn
    msg = r"The model has 2 outputs \['output_0', 'output_1'\]; pass target= one of them"
    with pytest.raises(ArgumentError, match=msg + ', or all'): learn.partial_dependence('x0')
    with pytest.raises(ArgumentError, match=msg): learn.explain(ROW)
    with pytest.raises(ArgumentError, match=msg): learn.ale('x0')
    for t in ('output_1', 1, -1):
        fct.test_eq(learn.partial_dependence('x0', grid_resolution=2, target=t, seed=0).attrs['target'], 'output_1')
        fct.test_eq(learn.explain(ROW, target=t, seed=0, n_samples=2).attrs['target'], 'output_1')
        fct.test_eq(learn.ale('x0', bins=2, target=t, seed=0).attrs['target'], 'output_1')
    a = learn.partial_dependence('x0', grid_resolution=2, target='all', seed=0)
    fct.test_eq(list(a.target), ['output_0', 'output_1'] * 2)
    df = valid_df(learn, n=300).drop(columns='y')
    ref = [brute_force_preds(learn, df, {'x0': v}).mean(0) for v in pd.unique(a.value)]
    fct.test_close(a.average.to_numpy(), np.concatenate(ref), eps=1e-5)
    e = learn.explain(synth_df(2, seed=3), target='output_0', seed=0, n_samples=2)
    fct.test_eq(set(e.target), {'output_0'})
    with pytest.raises(ArgumentError, match="Unknown target 'y'"): learn.explain(ROW, target='y')


def test_named_outputs():
    "A regressor with two target columns: its outputs are named after them"
    df = synth_df(300)
    df['y2'] = -df['y']
    dls = TabularDataLoaders.from_df(df, y_names=['y', 'y2'], cat_names=['cat_a', 'noise_cat'], cont_names=['x0', 'x1', 'noise_cont'],
                                     procs=[Categorify, Normalize], bs=64, valid_idx=list(range(200, 300)))
    learn = tabular_learner(dls, layers=[8])
    fct.test_eq(learn.partial_dependence('x0', grid_resolution=2, target='y2', seed=0).attrs['target'], 'y2')
    fct.test_eq(learn.explain(ROW, target=-1, seed=0, n_samples=2).attrs['target'], 'y2')
    fct.test_eq(list(learn.partial_dependence('x0', grid_resolution=2, target='all', seed=0).target), ['y', 'y2'] * 2)
    with pytest.raises(ArgumentError, match=r"2 outputs \['y', 'y2'\]"): learn.partial_dependence('x0')
