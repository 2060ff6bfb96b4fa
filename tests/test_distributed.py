"Analyses under torch.distributed: 2 gloo processes (tests/dist_worker.py) against each other and against one process."
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastai.learner import load_learner
from fastinterp.all import *
from fastinterp.callback import epoch_seed
from fastinterp.importance import importance_setup, compute_importance
from fastinterp.distributed import DistributedError, block, is_distributed, one_process, differences, fingerprint
from fastinterp.runner import Runner
from helpers import tiny, quiet_fit, valid_df
import dist_worker

pytestmark = pytest.mark.slow   # two processes, about 30 s


@pytest.fixture(scope='module')
def run(dist_run):
    "The 2-rank launch (conftest's `dist_run`): the learner and rows it used; the two ranks' results"
    return dist_run


def _frames(x):
    "(frame, arrays) of an analysis's result"
    if isinstance(x, dict): return x['frame'], {k: v for k, v in x.items() if k != 'frame'}
    return x, {}


def _order(df):
    "Row keys of a table ranked by a score (features, pairs), so that ties in the ranking don't matter; else None"
    for cols in (['row', 'feature'], ['feature'], ['feature_1', 'feature_2']):
        if set(cols) <= set(df.columns): return [tuple(r) for r in df[cols].to_numpy()]
    return None


def close(a, b, eps, what=''):
    "Plain values (attrs) equal, numbers within `eps`"
    if isinstance(a, dict):
        fct.test_eq(sorted(a), sorted(b))
        for k in a: close(a[k], b[k], eps, f'{what}.{k}')
    elif isinstance(a, (list, tuple)) and not isinstance(a, str):
        fct.test_eq(len(a), len(b))
        for x, y in zip(a, b): close(x, y, eps, what)
    elif isinstance(a, float) and eps is not None: assert abs(a-b) <= eps or (np.isnan(a) and np.isnan(b)), (what, a, b)
    else: assert a == b or (a != a and b != b), (what, a, b)


def same(a, b, eps=None):
    "Results `a` and `b` identical (eps=None) or numerically within `eps`, ranked rows matched by key"
    fa, xa = _frames(a); fb, xb = _frames(b)
    close(fa.attrs, fb.attrs, eps, 'attrs')
    ka, kb = _order(fa), _order(fb)
    if eps is None: pd.testing.assert_frame_equal(fa, fb, check_exact=True)
    else:
        if ka is not None:
            fct.test_eq(sorted(ka), sorted(kb))
            fb = fb.set_axis(kb).loc[ka].reset_index(drop=True)
        fct.test_eq(list(fa.columns), list(fb.columns))
        for c in fa.columns:
            if pd.api.types.is_numeric_dtype(fa[c]): np.testing.assert_allclose(fa[c].to_numpy(float), fb[c].to_numpy(float), rtol=0, atol=eps)
            else: fct.test_eq(list(fa[c]), list(fb[c]))
    fct.test_eq(sorted(xa), sorted(xb))
    for k in xa:
        va, vb = xa[k], xb[k]
        if isinstance(va, np.ndarray):
            if eps is None: np.testing.assert_array_equal(va, vb)
            else:
                if k in ('importances', 'pd_2') and ka is not None: vb = vb[[kb.index(x) for x in ka]]   # rows in the table's order
                np.testing.assert_allclose(va, vb, rtol=0, atol=eps)
        elif isinstance(va, pd.DataFrame): same(va, vb, eps)
        else: fct.test_eq(va, vb)


def test_ranks_return_the_same(run):
    r0, r1 = run['res']
    for name in list(dist_worker.analyses(None, None, None)) + ['fi_drawn_seed']: same(r0[name], r1[name])


def test_equal_to_one_process(run):
    "Every table (and array) equals the one-process result with the same arguments, to 1e-6"
    learn, df, r0 = run['learn'], run['df'], run['res'][0]
    assert not is_distributed()
    dl = learn.dls.test_dl(df, with_labels=True)
    ref = {k: f() for k, f in dist_worker.analyses(learn, dl, df).items()}
    for name, v in ref.items(): same(r0[name], v, eps=1e-6)
    # shard='rows' and shard='jobs' give the same table
    same(r0['fi_rows'], r0['fi_jobs'], eps=1e-6)
    same(r0['fi_metric_rows'], r0['fi_metric_jobs'], eps=1e-6)
    # seed=None: rank 0 drew one for both ranks, and it reproduces in one process
    seed = r0['fi_drawn_seed'].attrs['seed']
    same(r0['fi_drawn_seed'], learn.feature_importance(dl, n_repeats=1, seed=seed), eps=1e-6)


def test_map_rows(run):
    "Rows split in blocks of 64 and joined in order: what `learn.explain(df)` needs (here exact Shapley values)"
    r0, r1 = (r['map_rows_shapley'] for r in run['res'])
    learn, df = run['learn'], run['df']
    ref = dist_worker.shapley_rows(learn, learn.dls.test_dl(df, with_labels=True))(0, len(df))
    fct.test_eq(sorted(r0), sorted(ref))
    for k, v in ref.items():
        if isinstance(v, np.ndarray):
            fct.test_eq(v.shape, r0[k].shape)
            np.testing.assert_array_equal(r0[k], r1[k]); np.testing.assert_allclose(r0[k], v, rtol=0, atol=1e-6)
        else: fct.test_eq(r0[k], v)


def test_tracker_under_ddp(run):
    "Both ranks compute and keep the whole history; only rank 0 writes the CSV; it equals one process on rank 0's weights"
    t0, t1 = (r['tracker'] for r in run['res'])
    # each rank trained on its own batches without validating: its BatchNorm statistics differed from rank 0's...
    assert any(not torch.equal(t0['own_buffers'][-1][k], t1['own_buffers'][-1][k]) for k in t0['own_buffers'][-1])
    # ...and the tracker scored rank 0's on both
    pd.testing.assert_frame_equal(t0['history'], t1['history'], check_exact=True)
    fct.test_eq(sorted(t0['history'].epoch.unique()), [0, 1])
    assert t1['csv'] is None and not (run['tmp']/'rank1'/'imp.csv').exists()
    pd.testing.assert_frame_equal(t0['csv'], t0['history'], check_dtype=False, check_exact=False, rtol=1e-12)
    # the second tracker drew its seed on rank 0 and followed rank 0's budget plan
    fct.test_eq(t0['seed2'], t1['seed2'])
    pd.testing.assert_frame_equal(t0['budget2'], t1['budget2'])
    pd.testing.assert_frame_equal(t0['history2'], t1['history2'], check_exact=True)
    assert len(t0['history2']) > 0          # the last epoch is always tracked
    # one process, the same weights (rank 0's, buffers included), the same seeds
    learn = dist_worker.train_learner()
    kw = dist_worker.TRACKER
    for e, state in enumerate(t0['states']):
        learn.model.load_state_dict(state)
        st = importance_setup(learn, learn.dls.valid, max_samples=kw['max_samples'], seed=kw['seed'])
        fi, base, *_ = compute_importance(Runner(learn, 0), st.es, st.scorer, st.features, st.jobs(epoch_seed(kw['seed'], e)), kw['n_repeats'])
        h = t0['history'][t0['history'].epoch == e].sort_values('feature')
        fi = fi.sort_values('feature')
        fct.test_eq(list(h.feature), list(fi.feature))
        for c in ['importance', 'std', 'ci_low', 'ci_high']: np.testing.assert_allclose(h[c], fi[c], rtol=0, atol=1e-6)
        np.testing.assert_allclose(h.baseline, base, rtol=0, atol=1e-6)


def test_mismatch_raises_on_every_rank(run):
    for r in run['res']:
        msg = r['mismatch']
        assert msg is not None and msg.startswith('DistributedError'), msg
        assert "parameters: values of ['layers.0.0.weight']" in msg and 'same model' in msg, msg
        assert 'number of evaluation rows (200 vs 199)' in r['rows_mismatch'], r['rows_mismatch']


def test_failure_on_one_rank_raises_on_all(run):
    r0, r1 = (r['one_fails'] for r in run['res'])
    assert 'flaky metric broke' in r1 and not r1.startswith('DistributedError'), r1   # rank 1: its own error
    assert r0.startswith('DistributedError') and 'failed on rank 1' in r0 and 'flaky metric broke' in r0, r0


def test_error_on_one_rank_before_any_message(run):
    "A wrong argument (or an unseen level) on rank 1 only: both ranks raise in that call, and the next call works on both"
    r0, r1 = run['res']
    assert r1['arg_one_rank'].startswith('ArgumentError') and 'n_repeats must be a positive int' in r1['arg_one_rank']
    assert r0['arg_one_rank'].startswith('DistributedError') and 'failed on rank 1' in r0['arg_one_rank'] and 'n_repeats' in r0['arg_one_rank']
    assert r1['level_one_rank'].startswith('DataError') and "'not a number'" in r1['level_one_rank'] and r0['level_one_rank'].startswith('DistributedError'), (r0['level_one_rank'], r1['level_one_rank'])
    same(r0['after_arg_error'], r1['after_arg_error']); same(r0['after_level_error'], r1['after_level_error'])


def test_interrupt_on_one_rank(run):
    "Ctrl-C on rank 1: rank 1 gets its KeyboardInterrupt, rank 0 a DistributedError naming it (not the group's timeout), and the next call works"
    r0, r1 = run['res']
    assert r1['interrupt'] == 'KeyboardInterrupt', r1['interrupt']
    assert r0['interrupt'].startswith('DistributedError') and 'failed on rank 1: KeyboardInterrupt' in r0['interrupt'], r0['interrupt']
    same(r0['after_interrupt'], r1['after_interrupt'])


def test_call_on_one_rank(run):
    "Rank 0 alone: an error that says what to do after JOIN_TIMEOUT (4 s here), not a hang; `one_process()` works"
    msg = run['res'][0]['lone']
    assert msg.startswith('DistributedError') and 'rank(s) [1] did not reach' in msg and 'one_process' in msg, msg
    learn, df = run['learn'], run['df']
    same(run['res'][0]['lone_one_process'], learn.feature_importance(learn.dls.test_dl(df, with_labels=True), n_repeats=2, seed=1), eps=1e-6)


def test_shares_cover_everything():
    for n, w, a in [(0, 2, 1), (181, 2, 1), (300, 4, 64), (7, 8, 1)]:
        bs = [block(n, r, w, a) for r in range(w)]
        fct.test_eq(sum([list(range(*b)) for b in bs], []), list(range(n)))


def test_one_process_is_the_default(reg_learn):
    "Without torch.distributed nothing is split, and a fingerprint tells models apart"
    assert not is_distributed()
    with one_process(): assert not is_distributed()
    es = reg_learn.eval_set()
    fp = fingerprint(reg_learn.model, es, es.features)
    fct.test_eq(differences(fp, fingerprint(reg_learn.model, es, es.features)), [])
