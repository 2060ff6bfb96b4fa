"""The third round of robustness (issue 18): inputs that gave silently wrong numbers or raw errors before. Each test
failed before its fix. (The torch.distributed items, an error or Ctrl-C on one rank, are in test_distributed.py; the
image inputs in test_vision.py.)"""
import warnings
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastai.tabular.all import TabularDataLoaders, tabular_learner, Categorify, Normalize, rmse, set_seed
from fastinterp.all import *
from fastinterp.synth import synth_df
from helpers import tiny, quiet_fit, weights, same_weights


# ---------------------------------------------------------------- 1. category dtypes
def _cat_rows():
    "The issue's repro: a category column whose categories lack a level of training (a), so its codes shift"
    df = synth_df(400, seed=5)
    return df[df.cat_a != 'a']


def test_category_dtype_reads_values_not_codes(reg_learn):
    plain, cat = _cat_rows(), _cat_rows().astype({'cat_a': 'category'})
    assert list(cat.cat_a.cat.categories) == ['b', 'c']      # codes 0, 1: Categorify would read them as '#na#', 'a'
    fi_p, fi_c = (reg_learn.feature_importance(d, n_repeats=2, seed=0) for d in (plain, cat))
    pd.testing.assert_frame_equal(fi_c, fi_p)
    assert fi_c.attrs['baseline'] < 0.5, fi_c.attrs   # a trained model's MSE on these rows (1.56 when read by codes)
    row_p, row_c = plain.drop(columns='y').iloc[[0]], cat.drop(columns='y').iloc[[0]]
    pd.testing.assert_frame_equal(reg_learn.explain(row_c, seed=0), reg_learn.explain(row_p, seed=0))
    pd.testing.assert_frame_equal(reg_learn.partial_dependence('x0', dl=cat, grid=[0., 1.]),
                                  reg_learn.partial_dependence('x0', dl=plain, grid=[0., 1.]))
    # a category whose order differs from training's, and the grid of a categorical passed as a Categorical
    rev = plain.astype({'cat_a': pd.CategoricalDtype(['c', 'b', 'a'])})
    pd.testing.assert_frame_equal(reg_learn.feature_importance(rev, n_repeats=1, seed=0), reg_learn.feature_importance(plain, n_repeats=1, seed=0))
    pd.testing.assert_frame_equal(reg_learn.partial_dependence('cat_a', grid=pd.Categorical(['c', 'a'])),
                                  reg_learn.partial_dependence('cat_a', grid=['c', 'a']))


def test_category_dtype_in_the_tracker():
    learn = tiny(n=600)
    cat = synth_df(300, seed=7).astype({'cat_a': 'category', 'noise_cat': 'category'})
    hs = []
    for d in (cat, cat.astype({'cat_a': object, 'noise_cat': object})):
        tr = ImportanceTracker(dl=d, budget=None, seed=0)
        quiet_fit(tiny(n=600), 1, cbs=tr)
        hs.append(tr.history)
    pd.testing.assert_frame_equal(hs[0], hs[1])


# ---------------------------------------------------------------- 2. groups='auto' and many levels
def test_auto_groups_ignore_chance_association_of_many_levels():
    "A random 2,700-level categorical and an independent column are not grouped; a planted dependence is"
    rng = np.random.default_rng(0)
    n = 4000
    df = pd.DataFrame({'id': rng.integers(0, 5000, n).astype(str), 'x': rng.normal(size=n), 'y0': rng.normal(size=n)})
    lv = rng.integers(0, 200, n)
    df['g'] = lv.astype(str); df['gx'] = rng.normal(size=200)[lv] + 0.3*rng.normal(size=n)
    am = association_matrix(df, cat_names=['id', 'g'], cont_names=['x', 'y0', 'gx'])
    assert am.loc['id', 'x'] < 0.3 and am.loc['id', 'y0'] < 0.3, am      # plain correlation ratio: 0.83
    assert am.loc['g', 'gx'] > 0.9, am
    fct.test_eq(cluster_features(am, threshold=0.75, singletons=False), {'g & gx': ['g', 'gx']})


# ---------------------------------------------------------------- 3. intervals from a few rows
@pytest.mark.parametrize('n', [1, 2, 9])
def test_interval_needs_rows(reg_learn, n):
    rows = synth_df(50, seed=3).iloc[:n]
    with pytest.warns(UserWarning, match='needs at least 10 evaluation rows; these have'):
        fi = reg_learn.feature_importance(rows, n_repeats=2, seed=0)
    assert fi.ci_low.isna().all() and fi.ci_high.isna().all() and fi.attrs['interval'] is None
    if n == 1:   # one row permuted is the same row: 0 up to rounding (MKL_CBWR=COMPATIBLE gave 6.6e-7: other batch layout)
        np.testing.assert_allclose(fi.importance, 0, atol=1e-5*abs(fi.attrs['baseline']))
    with pytest.warns(UserWarning, match='needs at least 10'):
        assert reg_learn.feature_importance(n_repeats=1, seed=0, max_samples=n).ci_low.isna().all()
    with warnings.catch_warnings():
        warnings.simplefilter('error')                  # 10 rows: an interval, no warning
        assert reg_learn.feature_importance(synth_df(50, seed=3).iloc[:10], n_repeats=2, seed=0).ci_low.notna().all()


def test_interval_needs_rows_in_the_tracker():
    tr = ImportanceTracker(max_samples=5, budget=None)
    with pytest.warns(UserWarning, match='needs at least 10'): quiet_fit(tiny(n=600), 1, cbs=tr)
    assert tr.history.ci_low.isna().all()


# ---------------------------------------------------------------- 6. logs on disk
def test_log_with_a_cut_last_line_is_repaired(tmp_path):
    learn = tiny(n=600, path=tmp_path)
    quiet_fit(learn, 2, cbs=ImportanceTracker(fname='imp.csv', budget=None))
    log = tmp_path/'imp.csv'
    good = log.read_text()
    log.write_text(good + '1,2,x0,0.51')                       # a crash while writing the next line
    tr = ImportanceTracker(fname='imp.csv', budget=None)
    with pytest.warns(UserWarning, match='was cut off'): quiet_fit(learn, 1, cbs=tr)
    fct.test_eq(sorted(tr.history.epoch.unique()), [0, 1, 2])  # continued from the last whole line
    back = tr.read_log()
    fct.test_eq(len(back), 3*5); assert not back.duplicated(['fit', 'epoch', 'feature']).any()
    importance_drift(back); plot_importance_history(back)       # the log reads back and draws


@pytest.mark.parametrize('content, match', [
    ('garbage', "has a row that is not a tracker's"),
    ('other', 'is the log of another model or other features'),
    ('header', 'not an ImportanceTracker log'),
    ('bytes', r"is not UTF-8 text, as the tracker writes its logs \(byte b'\\xff' at offset")])
def test_bad_log_refused_before_training(tmp_path, content, match):
    learn = tiny(n=600, path=tmp_path)
    quiet_fit(learn, 1, cbs=ImportanceTracker(fname='imp.csv', budget=None))
    log = tmp_path/'imp.csv'
    if content == 'garbage': log.write_text(log.read_text() + 'x,y,z\n')
    elif content == 'other': log.write_text(log.read_text().replace('noise_cont', 'price'))
    elif content == 'bytes': log.write_bytes(log.read_bytes() + b'0,1,x0,\xff\xfe\n')   # e.g. another program's binary output
    else: log.write_text('epoch,train_loss,valid_loss\n0,1,2\n')
    w0 = weights(learn)
    tr = ImportanceTracker(fname='imp.csv', budget=None)
    with pytest.raises(ArgumentError, match=match) as e: quiet_fit(learn, 1, cbs=tr)
    assert str(log) in str(e.value) and 'append=False' in str(e.value)
    assert same_weights(w0, weights(learn)) and len(tr.history) == 0   # nothing trained, nothing kept


# ---------------------------------------------------------------- 7. missing columns named
def test_dataframe_without_a_feature_column(reg_learn):
    rows = synth_df(50, seed=3).drop(columns='x1')
    for f in (lambda: reg_learn.feature_importance(rows), lambda: reg_learn.partial_dependence('x0', dl=rows),
              lambda: reg_learn.feature_correlation(rows), lambda: reg_learn.ale('x0', dl=rows)):
        with pytest.raises(DataError, match=r"Column\(s\) \['x1'\] that the learner was trained on are missing"): f()


# ---------------------------------------------------------------- 9. frames fastai itself can't read
def test_reversed_columns_and_nullable_dtypes(na_learn):
    "na_learn's x1 had missing values in training (FillMissing fills them), so NaN and pd.NA are valid there"
    rows = synth_df(200, seed=4)
    rows.loc[rows.index[:5], 'x1'] = np.nan                     # missing values survive the conversion as NaN
    ref = na_learn.feature_importance(rows, n_repeats=1, seed=0)
    for d in (rows[rows.columns[::-1]], rows.convert_dtypes(), rows.convert_dtypes()[rows.columns[::-1]]):
        pd.testing.assert_frame_equal(na_learn.feature_importance(d, n_repeats=1, seed=0), ref)
    ints = rows.assign(x1=rows.x1.round().astype('Int64'))      # a nullable integer column with pd.NA
    assert ints.x1.isna().sum() == 5
    pd.testing.assert_frame_equal(na_learn.feature_importance(ints, n_repeats=1, seed=0),
                                  na_learn.feature_importance(ints.astype({'x1': float}), n_repeats=1, seed=0))
    pd.testing.assert_frame_equal(na_learn.explain(rows.convert_dtypes().drop(columns='y').iloc[:3], seed=0),
                                  na_learn.explain(rows.drop(columns='y').iloc[:3], seed=0))


# ---------------------------------------------------------------- 10. a constant column
def test_constant_column_is_nan_against_every_kind():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({'x': rng.normal(size=300), 'k': rng.choice(list('abc'), 300), 'c_num': 1.0, 'c_cat': 'same'})
    am = association_matrix(df, cat_names=['k', 'c_cat'], cont_names=['x', 'c_num'])
    for c in ('c_num', 'c_cat'):
        others = [o for o in am.columns if o != c]
        assert am.loc[c, others].isna().all() and am.loc[others, c].isna().all(), am
        fct.test_eq(am.loc[c, c], 1.)
    fct.test_eq(cluster_features(am, singletons=False), {})    # NaN is no association: not grouped
