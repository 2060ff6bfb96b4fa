"""The data an analysis reads (`dl=`), and the arguments every analysis checks the same way (issue 9)."""
import time
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastai.tabular.all import TabularDataLoaders, tabular_learner, Categorify, FillMissing, Normalize
from fastai.metrics import rmse
from fastinterp.all import *
from fastinterp.synth import synth_df
from helpers import valid_df


# --- a DataFrame where a DataLoader goes --------------------------------------------------------------------------------
def test_dataframe_as_dl_feature_importance(reg_learn):
    "`dl=` a raw DataFrame with the target columns means `learn.dls.test_dl(df, with_labels=True)`"
    df = valid_df(reg_learn)
    a = reg_learn.feature_importance(df, seed=0)
    b = reg_learn.feature_importance(reg_learn.dls.test_dl(df, with_labels=True), seed=0)
    pd.testing.assert_frame_equal(a, b)
    fct.test_eq(a.attrs, b.attrs)
    # they are the validation rows: the same as the default
    pd.testing.assert_frame_equal(a, reg_learn.feature_importance(seed=0))
    other = synth_df(300, seed=8)
    pd.testing.assert_frame_equal(reg_learn.feature_importance(other, seed=1, max_samples=100),
                                  reg_learn.feature_importance(reg_learn.dls.test_dl(other, with_labels=True), seed=1, max_samples=100))


def test_dataframe_as_dl_partial_dependence(reg_learn):
    df = synth_df(300, seed=8)
    a = reg_learn.partial_dependence('x0', dl=df, seed=0, details=True)
    b = reg_learn.partial_dependence('x0', dl=reg_learn.dls.test_dl(df, with_labels=True), seed=0, details=True)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    np.testing.assert_array_equal(a.ice, b.ice)
    fct.test_eq(a.attrs['n_rows'], 300)
    # the grid comes from the DataFrame's own values
    fct.test_close(a.frame.value.max(), df.x0.quantile(0.95), eps=1e-5)
    pd.testing.assert_frame_equal(reg_learn.ale('x0', bins=5, dl=df, seed=0),
                                  reg_learn.ale('x0', bins=5, dl=reg_learn.dls.test_dl(df, with_labels=True), seed=0))
    pd.testing.assert_frame_equal(reg_learn.feature_correlation(df, seed=0),
                                  reg_learn.feature_correlation(reg_learn.dls.test_dl(df, with_labels=True), seed=0))


def test_dataframe_without_target(reg_learn):
    df = synth_df(50, seed=8).drop(columns='y')
    with pytest.raises(DataError, match=r"lacks the target column\(s\) \['y'\]"): reg_learn.feature_importance(df)
    with pytest.raises(DataError, match=r"\['y'\]"): reg_learn.eval_set(df)
    with pytest.raises(DataError, match='no rows'): reg_learn.feature_importance(synth_df(5).iloc[:0])


def test_dataframe_not_modified(reg_learn):
    df = synth_df(100, seed=8)
    before = df.copy()
    reg_learn.feature_importance(df, seed=0, n_repeats=1)
    reg_learn.partial_dependence('cat_a', dl=df, seed=0)
    pd.testing.assert_frame_equal(df, before)


# --- NaN targets ------------------------------------------------------------------------------------------------------
def test_nan_targets_are_a_data_error(reg_learn):
    df = synth_df(100, seed=8)
    df.loc[[3, 7], 'y'] = np.nan
    with pytest.raises(DataError, match=r'2 of the 100 evaluation targets are NaN.*dropna'): reg_learn.feature_importance(df)
    with pytest.raises(DataError, match='NaN'):
        reg_learn.feature_importance(reg_learn.dls.test_dl(df, with_labels=True), metric=rmse)
    fct.test_eq(reg_learn.feature_importance(df.dropna(subset=['y']), seed=0, n_repeats=1).attrs['n_rows'], 98)


# --- a learner without validation rows ---------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def no_valid_learn():
    df = synth_df(300)
    dls = TabularDataLoaders.from_df(df, y_names='y', cat_names=['cat_a'], cont_names=['x0', 'x1'],
                                     procs=[Categorify, FillMissing, Normalize], valid_idx=[], bs=64)
    return tabular_learner(dls, layers=[8])


NO_VALID = r'The learner has no validation data \(learn.dls.valid is missing or empty.*Pass `dl=` a DataFrame with the target columns'


@pytest.mark.parametrize('call', [
    lambda l: l.feature_importance(),
    lambda l: l.partial_dependence('x0'),
    lambda l: l.ale('x0'),
    lambda l: l.feature_correlation(),
    lambda l: l.explain(synth_df(2, seed=1).iloc[0]),        # background=None: a sample of the validation set
    lambda l: l.explain(synth_df(2, seed=1)),
    lambda l: l.eval_set(),
    lambda l: auto_groups(l),
    lambda l: l.feature_importance(groups='auto'),
], ids=['feature_importance', 'partial_dependence', 'ale', 'feature_correlation', 'explain_row', 'explain_rows', 'eval_set',
        'auto_groups', 'feature_importance_auto'])
def test_no_validation_data_same_error(no_valid_learn, call):
    with pytest.raises(DataError, match=NO_VALID): call(no_valid_learn)


def test_no_validation_data_dl_still_works(no_valid_learn):
    df = synth_df(100, seed=3)
    fct.test_eq(no_valid_learn.feature_importance(df, n_repeats=1, seed=0).attrs['n_rows'], 100)
    fct.test_eq(len(no_valid_learn.explain(df.iloc[0], background=df, n_samples=2, seed=0)), 3)


# --- arguments every analysis checks alike ------------------------------------------------------------------------------
ANALYSES = {
    'feature_importance': lambda l, **kw: l.feature_importance(n_repeats=1, **kw),
    'partial_dependence': lambda l, **kw: l.partial_dependence('x0', grid_resolution=2, **kw),
    'ale': lambda l, **kw: l.ale('x0', bins=2, **kw),
    'explain': lambda l, **kw: l.explain(synth_df(1, seed=1).iloc[0], n_samples=1, n_background=5, **kw),
}


@pytest.mark.parametrize('name', list(ANALYSES))
@pytest.mark.parametrize('seed', [2**64, 2**63, -1, 'abc', 1.5, True, np.float64(3)])
def test_bad_seed(reg_learn, name, seed):
    with pytest.raises(ArgumentError, match=r'seed must be None or an int in \[0, 2\*\*63\)'):
        ANALYSES[name](reg_learn, seed=seed)


@pytest.mark.parametrize('seed', [2**64, 'abc', 1.5])
def test_bad_seed_elsewhere(reg_learn, seed):
    for f in (lambda: reg_learn.feature_correlation(seed=seed), lambda: reg_learn.eval_set(seed=seed, max_samples=10),
              lambda: ImportanceTracker(seed=seed)):
        with pytest.raises(ArgumentError, match='seed must be None or an int'): f()


def test_large_seeds_work(reg_learn):
    for s in (0, 2**63 - 1, np.int64(5), np.uint64(2**63 - 1)):
        fct.test_eq(reg_learn.feature_importance(n_repeats=1, seed=s, max_samples=50).attrs['seed'], int(s))


@pytest.mark.parametrize('name', list(ANALYSES))
@pytest.mark.parametrize('bs', ['8', 2.5, 0, True])
def test_bad_bs(reg_learn, name, bs):
    with pytest.raises(ArgumentError, match='bs must be a positive int'):
        ANALYSES[name](reg_learn, bs=bs, seed=0)


def test_default_bs():
    "bs=None: 8192 rows for tabular data; 4x the DataLoader's batch size for anything else (an image or a text is big)"
    from fastinterp.inputs import InputKind, Tabular, Columns
    from types import SimpleNamespace as NS
    fct.test_eq(Tabular.rows_per_pass(NS(), None), 8192)
    fct.test_eq(Columns.rows_per_pass(NS(es=NS(dl=NS(bs=32))), None), 128)
    fct.test_eq(Columns.rows_per_pass(NS(es=NS(dl=NS(bs=32))), 7), 7)


def test_ale_bins(reg_learn):
    calls = []
    h = reg_learn.model.register_forward_pre_hook(lambda m, i: calls.append(1))
    try:
        with pytest.raises(ArgumentError, match=r'bins must be an int in \[1, 10000\] \(quantile bins\), got 1000000'):
            reg_learn.ale('x0', bins=10**6)
    finally: h.remove()
    fct.test_eq(len(calls), 0)                           # refused before any work
    for bad in (0, -3, 2.5, '20', None, True):
        with pytest.raises(ArgumentError, match='bins must be an int'): reg_learn.ale('x0', bins=bad)
    # capped by the distinct values: a feature with 3 values gives 2 bins (3 edges), whatever is asked
    df = synth_df(200, seed=4)
    df['x1'] = np.clip(np.round(df['x1']), -1, 1) + 0.0
    a = reg_learn.ale('x1', bins=10_000, dl=df, seed=0)
    fct.test_close(a.value.to_numpy(), [-1., 0., 1.], eps=1e-5)
    fct.test_eq(int(a['count'].sum()), 200)
    b = reg_learn.ale('x0', bins=10_000, max_samples=50, seed=0)   # 50 distinct values: at most 49 bins
    assert len(b) <= 50
    fct.test_eq(int(b['count'].sum()), 50)


def test_max_samples_everywhere(reg_learn):
    fct.test_eq(reg_learn.partial_dependence('x0', grid_resolution=2, max_samples=30, seed=0).attrs['n_rows'], 30)
    fct.test_eq(reg_learn.feature_correlation(max_samples=30, seed=0).attrs['n_rows'], 30)
    fct.test_eq(len(reg_learn.eval_set(max_samples=0.1, seed=0)), 50)
    with pytest.raises(ArgumentError, match='max_samples must be None'): reg_learn.partial_dependence('x0', max_samples=0)
    with pytest.raises(ArgumentError, match='max_samples must be None'): reg_learn.eval_set(max_samples=1.5)


def test_eval_set_of_another_learner(reg_learn, clf_learn):
    es = clf_learn.eval_set(max_samples=20, seed=0)
    with pytest.raises(ArgumentError, match='another learner'): reg_learn.feature_importance(es)
    with pytest.raises(ArgumentError, match='names is for non-tabular inputs'): reg_learn.eval_set(names=['a'])
