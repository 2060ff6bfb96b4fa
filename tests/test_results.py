"""Issue 9: every DataFrame an analysis returns survives everyday pandas work.

The old results kept numpy arrays (per-repeat importances, ICE curves, row indices, ...) in `DataFrame.attrs`.
pandas compares and deep-copies `attrs` in its operations, so `concat` raised "The truth value of an array ... is
ambiguous", `json.dumps(df.attrs)` and `to_json` failed, and every `sort_values`/`nlargest` deep-copied the arrays.
Now `attrs` holds plain JSON data only, and the arrays come in a `Result` (`details=True`), which pickles.
These tests run each operation on each result type; any array (or other non-JSON object) in attrs fails them."""
import copy, io, json, pickle
import numpy as np, pandas as pd, pytest
from fastai.metrics import rmse
import fastcore.test as fct
from fastinterp.all import *
from fastinterp.synth import synth_df
from helpers import tiny, quiet_fit


@pytest.fixture(scope='module')
def results(reg_learn):
    "One result of each kind: (frame, a numeric column, the key columns to merge on; None: the index)"
    learn = tiny(n=400)
    tr = ImportanceTracker(max_samples=100, budget=None, n_repeats=2)
    quiet_fit(learn, 2, cbs=tr)
    rows = synth_df(3, seed=5)
    return {
        'feature_importance': (reg_learn.feature_importance(n_repeats=2, seed=0), 'importance', ['feature']),
        'feature_importance_metric': (reg_learn.feature_importance(metric=rmse, n_repeats=1, seed=0), 'importance', ['feature']),
        'partial_dependence': (reg_learn.partial_dependence('x0', grid_resolution=5, seed=0), 'average', ['value']),
        'partial_dependence_cat': (reg_learn.partial_dependence('cat_a', seed=0), 'average', ['value']),
        'partial_dependence_pair': (reg_learn.partial_dependence(['x0', 'cat_a'], grid_resolution=3, seed=0), 'average', ['x0', 'cat_a']),
        'ale': (reg_learn.ale('x0', bins=5, seed=0), 'ale', ['value']),
        'explain_series': (reg_learn.explain(rows.iloc[0], seed=0, n_samples=3), 'contribution', ['feature']),
        'explain_frame': (reg_learn.explain(rows, seed=0, n_samples=3), 'contribution', ['row', 'feature']),
        'feature_correlation': (reg_learn.feature_correlation(seed=0), 'x0', None),
        'importance_drift': (tr.drift(), 'change', ['feature']),
        'tracker_history': (tr.history, 'importance', ['fit', 'epoch', 'feature']),
        'budget_log': (tr.budget_log, 'epoch_seconds', ['fit', 'epoch']),
    }


KINDS = ['feature_importance', 'feature_importance_metric', 'partial_dependence', 'partial_dependence_cat',
         'partial_dependence_pair', 'ale', 'explain_series', 'explain_frame', 'feature_correlation', 'importance_drift',
         'tracker_history', 'budget_log']
ANALYSIS = {'feature_importance': 'feature_importance', 'feature_importance_metric': 'feature_importance',
            'partial_dependence': 'partial_dependence', 'partial_dependence_cat': 'partial_dependence',
            'partial_dependence_pair': 'partial_dependence', 'ale': 'ale', 'explain_series': 'explain',
            'explain_frame': 'explain', 'feature_correlation': 'feature_correlation', 'importance_drift': 'importance_drift',
            'tracker_history': 'importance_history'}


def _json_roundtrip(attrs):
    "attrs as strict JSON (no NaN, no arrays, no tuples) and back"
    return json.loads(json.dumps(attrs, allow_nan=False))


@pytest.mark.parametrize('kind', KINDS)
def test_attrs_are_plain_json(results, kind):
    df = results[kind][0]
    fct.test_eq(_json_roundtrip(df.attrs), df.attrs)
    if kind in ANALYSIS: fct.test_eq(df.attrs['analysis'], ANALYSIS[kind])


@pytest.mark.parametrize('kind', KINDS)
def test_sorting_and_selection(results, kind):
    df, col, _ = results[kind]
    k = min(2, len(df))
    top = df.nlargest(k, col)
    fct.test_eq(top[col].tolist(), sorted(df[col], reverse=True)[:k])
    low = df.nsmallest(k, col)
    fct.test_eq(low[col].tolist(), sorted(df[col])[:k])
    s = df.sort_values(col)
    assert s[col].is_monotonic_increasing
    for out in (top, low, s): fct.test_eq(_json_roundtrip(out.attrs), out.attrs)
    d = df.describe()
    fct.test_eq(d.loc['count', col], len(df))


@pytest.mark.parametrize('kind', KINDS)
def test_concat_and_merge(results, kind):
    df, col, key = results[kind]
    both = pd.concat([df, df])
    fct.test_eq(len(both), 2 * len(df))
    fct.test_eq(both.attrs, df.attrs)   # equal attrs are kept by concat
    m = df.merge(df, left_index=True, right_index=True) if key is None else df.merge(df, on=key)
    fct.test_eq(len(m), len(df))
    np.testing.assert_array_equal(m[f'{col}_x'].to_numpy(dtype=float), m[f'{col}_y'].to_numpy(dtype=float))
    fct.test_eq(_json_roundtrip(m.attrs), m.attrs)


@pytest.mark.parametrize('kind', KINDS)
def test_serialisation(results, kind):
    df, col, _ = results[kind]
    j = json.loads(df.to_json())
    fct.test_eq(len(j[col]), len(df))
    back = pd.read_csv(io.StringIO(df.to_csv(index=False)))
    fct.test_eq(back.shape, df.shape)
    fct.test_close(back[col].to_numpy(dtype=float), df[col].to_numpy(dtype=float), eps=1e-12)
    d = df.to_dict()
    fct.test_eq(set(d), set(df.columns))
    fct.test_eq(len(df.to_dict('records')), len(df))
    p = pickle.loads(pickle.dumps(df))
    pd.testing.assert_frame_equal(p, df)
    fct.test_eq(p.attrs, df.attrs)
    c = copy.deepcopy(df)
    fct.test_eq(c.attrs, df.attrs)


def _same_result(a, b):
    assert isinstance(b, Result)
    fct.test_eq(list(a), list(b))
    for k in a:
        if isinstance(a[k], pd.DataFrame): pd.testing.assert_frame_equal(a[k], b[k])
        elif isinstance(a[k], np.ndarray): np.testing.assert_array_equal(a[k], b[k])
        else: fct.test_eq(a[k], b[k])
    fct.test_eq(b.attrs, a.attrs)
    pd.testing.assert_frame_equal(b.frame, a.frame)


def test_results_pickle(reg_learn):
    "A `Result` (details=True) pickles and deep-copies, with its frame, arrays and attribute access"
    res = [reg_learn.feature_importance(n_repeats=2, seed=0, details=True, max_samples=100),
           reg_learn.partial_dependence('x0', grid_resolution=3, seed=0, details=True, max_samples=50),
           reg_learn.explain(synth_df(2, seed=1), seed=0, n_samples=3, details=True)]
    for r in res:
        _same_result(r, pickle.loads(pickle.dumps(r)))
        _same_result(r, copy.deepcopy(r))
        fct.test_eq(_json_roundtrip(r.attrs), r.attrs)
        with pytest.raises(AttributeError, match='has no field'): r.nope
    fct.test_eq(res[0].importances.shape, (5, 2))
    fct.test_eq(res[1].ice.shape, (50, 3))
    fct.test_eq(res[2].contributions.shape, (2, 5))
    # details=False gives the same table
    pd.testing.assert_frame_equal(res[0].frame, reg_learn.feature_importance(n_repeats=2, seed=0, max_samples=100))
