"""One rank of the 2-process checks in `test_distributed.py`, run as
`python -m torch.distributed.run --nproc_per_node 2 tests/dist_worker.py LEARNER DATA OUT` (gloo, CPU).

Each rank loads the same exported learner and the same rows, runs every analysis of `analyses` (and the `tol=` and
`time_limit=` rounds of `precision_analyses` and `timed_analyses`, which `test_precision.py` checks), a 2-epoch training
with `ImportanceTracker`s under `DistributedDataParallel`, and the failure cases, and pickles what it got to
`OUT/rank{r}.pkl`. The test compares the ranks with each other and with one process. FI_DEBUG=1 prints each step and
dumps the Python stacks if a rank crashes (e.g. on a collective mismatch), or after FI_DUMP seconds (a hang)."""
import argparse, os, pickle, random, sys, time, traceback
from datetime import timedelta
from pathlib import Path
import numpy as np, pandas as pd, torch
import torch.distributed as dist


def analyses(learn, dl, df):
    "name -> thunk: what every rank runs, and what the test runs again in one process (same arguments)"
    from fastai.metrics import rmse
    from fastinterp.conditional import Subgroups
    return {
        'fi_jobs': lambda: learn.feature_importance(dl, n_repeats=3, seed=1, details=True),
        'fi_rows': lambda: learn.feature_importance(dl, n_repeats=3, seed=1, shard='rows', details=True),
        'fi_metric_jobs': lambda: learn.feature_importance(dl, metric=rmse, n_repeats=2, seed=2),
        'fi_metric_rows': lambda: learn.feature_importance(dl, metric=rmse, n_repeats=2, seed=2, shard='rows'),
        'fi_df_subsample': lambda: learn.feature_importance(df, n_repeats=2, max_samples=150, seed=4, shard='rows'),
        'fi_auto_groups': lambda: learn.feature_importance(dl, groups='auto', threshold=0.5, n_repeats=1, seed=3),
        'fi_conditional': lambda: learn.feature_importance(dl, conditional=Subgroups(rows=df, min_rows=10), n_repeats=2, seed=7),
        'fi_conditional_rows': lambda: learn.feature_importance(dl, conditional=Subgroups(rows=df, min_rows=10), n_repeats=2, seed=7,
                                                                shard='rows'),
        'sage': lambda: learn.sage(dl, background=df.iloc[:30], seed=6, details=True),
        'sage_conditional': lambda: learn.sage(dl, background=df.iloc[:30], conditional=True, max_samples=150, seed=6),
        'pd_ice': lambda: learn.partial_dependence('x0', dl=dl, details=True, seed=0),
        'pd_cat': lambda: learn.partial_dependence('cat_a', dl=dl, seed=0),
        'pd_pair': lambda: learn.partial_dependence(['x0', 'cat_a'], dl=dl, grid_resolution=5, seed=0),
        'ale': lambda: learn.ale('x0', dl=dl, bins=10, seed=0),
        'corr': lambda: learn.feature_correlation(dl, seed=0),
        'interactions': lambda: learn.feature_interactions(dl=dl, max_samples=40, top_k=3, seed=0, details=True),
        'explain': lambda: learn.explain(df.drop(columns='y').iloc[:150], background=df.iloc[150:180], exact=False, n_samples=4,
                                         seed=5, details=True),
    }


def precision_analyses(learn, df):
    "name -> thunk: `tol=` rounds, whose decisions depend only on the numbers: every rank and one process take the same ones"
    rows, bg = df.drop(columns='y').iloc[:150], df.iloc[150:190]
    return {'explain_tol': lambda: learn.explain(rows, background=bg, exact=False, tol=0.002, seed=5, details=True),
            'fi_tol_jobs': lambda: learn.feature_importance(df, n_repeats=2, tol=0.01, seed=1, details=True),
            'fi_tol_rows': lambda: learn.feature_importance(df, n_repeats=2, tol=0.01, seed=1, shard='rows', details=True),
            'sage_tol': lambda: learn.sage(df, background=bg, tol=0.002, max_samples=150, seed=2, details=True)}


def timed_analyses(learn, df):
    "name -> thunk: `time_limit=` rounds, decided by rank 0's clock (run under a ticking clock: the same rounds on any machine)"
    rows, bg = df.drop(columns='y').iloc[:150], df.iloc[150:190]
    return {'explain_time': lambda: learn.explain(rows, background=bg, exact=False, time_limit=0.8, seed=5, details=True),
            'fi_time': lambda: learn.feature_importance(df, time_limit=0.8, seed=1, details=True)}


TICK = 0.3   # seconds the ticking clock advances per reading: with time_limit=0.8, one round more than the first, then stop


def train_learner():
    "The learner the tracker test trains: the same on every rank (and in the test's reference)"
    from fastai.tabular.all import tabular_learner, rmse, set_seed
    from fastinterp.synth import synth_dls
    set_seed(0, reproducible=True)
    return tabular_learner(synth_dls(n=600, seed=0, bs=64), layers=[16, 8], metrics=rmse)


def shapley_rows(learn, dl):
    "`fn(lo, hi)`: exact Shapley values of rows lo:hi of `dl` against its first 20 rows (as `explain(df)` would shard them)"
    from fastinterp.shapley import shapley_values
    es = learn.eval_set(dl)
    bg = tuple(x[:20] for x in es.xs)
    return lambda lo, hi: shapley_values(learn.model, tuple(x[lo:hi] for x in es.xs), bg, es.features, exact=True)


TRACKER = dict(fname='imp.csv', budget=None, n_repeats=2, max_samples=None, seed=5)   # the tracker compared with one process


def _err(e): return f'{type(e).__name__}: {e}'


def tracker_run(out, r):
    "2 epochs under DDP (gloo) with two trackers; rank 0 keeps the weights each epoch was scored with"
    from fastai.callback.core import Callback, CancelValidException
    from torch.nn.parallel import DistributedDataParallel as DDP
    from fastinterp.all import ImportanceTracker
    from fastinterp.engine import unwrap_model

    class DDPWrap(Callback):
        "What fastai's DistributedTrainer does to the model, minus its CUDA-only parts"
        order = 5
        def before_fit(self): self.learn.model = DDP(self.learn.model)
        def after_fit(self): self.learn.model = self.learn.model.module

    class NoValidation(Callback):
        "DDP broadcasts rank 0's buffers at the first forward after a training step, validation's included: skip it, so they differ"
        def before_validate(self): raise CancelValidException()

    class Before(Callback):
        "Each rank's own buffers after its training steps, before the tracker (after validation) syncs them"
        def before_fit(self): self.bufs = []
        def after_train(self): self.bufs.append({k: v.detach().clone() for k, v in unwrap_model(self.learn.model).named_buffers()})

    class Keep(Callback):
        order = 56   # after the tracker (55), which has synced the buffers
        def before_fit(self): self.states = []
        def after_epoch(self):
            self.states.append({k: v.detach().clone() for k, v in unwrap_model(self.learn.model).state_dict().items()})

    learn = train_learner()
    learn.path = out/f'rank{r}'
    learn.dls.train.rng = random.Random(100+r)   # each rank its own batches, so BatchNorm statistics differ until synced
    np.random.seed(100+r)                        # (synth_dls' train loader is a TabWeightedDL: it samples with numpy's RNG)
    t1 = ImportanceTracker(**TRACKER)
    t2 = ImportanceTracker(n_repeats=1, max_samples=100, seed=None)   # drawn seed and the default budget: rank 0 decides
    keep, before = Keep(), Before()
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-2, cbs=[DDPWrap(), NoValidation(), before, t1, t2, keep])
    csv = learn.path/'imp.csv'
    return dict(history=t1.history, history2=t2.history, seed2=t2.fi_kwargs['seed'], budget2=t2.budget_log[['epoch','tracked','n_rows']],
                states=keep.states if r == 0 else None, own_buffers=before.bufs, csv=pd.read_csv(csv) if csv.exists() else None)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('learner'); p.add_argument('data'); p.add_argument('out')
    args = p.parse_args()
    torch.set_num_threads(1)
    if os.environ.get('FI_DEBUG'): import faulthandler; faulthandler.enable(); faulthandler.dump_traceback_later(float(os.environ.get('FI_DUMP', 3600)), exit=False)
    dist.init_process_group('gloo', timeout=timedelta(seconds=120))
    r = dist.get_rank()
    from fastai.learner import load_learner
    from fastai.metrics import rmse
    import fastinterp.all
    import fastinterp.distributed as fd
    out = Path(args.out)
    learn, df = load_learner(args.learner), pd.read_pickle(args.data)
    dl = learn.dls.test_dl(df, with_labels=True)
    res, errs, t0 = {}, {}, time.time()

    def run(name, f):
        if os.environ.get('FI_DEBUG'): print(r, 'start', name, flush=True)
        try: res[name] = f()
        except Exception as e: errs[name] = _err(e) + '\n' + traceback.format_exc()

    for name, f in analyses(learn, dl, df).items(): run(name, f)
    for name, f in precision_analyses(learn, df).items(): run(name, f)
    from helpers import ticking_clock
    with ticking_clock(TICK):
        for name, f in timed_analyses(learn, df).items(): run(name, f)
    run('fi_drawn_seed', lambda: learn.feature_importance(dl, n_repeats=1))
    from fastinterp.runner import Runner, Part
    from fastinterp.distributed import call_scope
    def _map_rows():
        with call_scope('map_rows'): return Runner(learn, 0).rows(lambda lo, hi: Part(rows=shapley_rows(learn, dl)(lo, hi)), 200, align=64).rows
    run('map_rows_shapley', _map_rows)   # what explain(df) does
    res['t_analyses'] = time.time()-t0
    run('tracker', lambda: tracker_run(out, r))

    # the ranks disagree: another weight on rank 1, other rows on rank 1
    other = load_learner(args.learner)
    if r == 1:
        with torch.no_grad(): other.model.layers[0][0].weight[0, 0] += 1e-3
    try: other.feature_importance(other.dls.test_dl(df, with_labels=True), n_repeats=1, seed=0); res['mismatch'] = None
    except Exception as e: res['mismatch'] = _err(e)
    try: learn.partial_dependence('x0', dl=df.iloc[:-1] if r == 1 else df, seed=0); res['rows_mismatch'] = None
    except Exception as e: res['rows_mismatch'] = _err(e)

    # a failure on one rank only is raised on every rank
    def flaky(preds, targs):   # (not fastai's `rmse(preds, targs)`: called directly, a fastai metric gathers across ranks)
        if dist.get_rank() == 1: raise RuntimeError('flaky metric broke')
        return float(((preds.view(-1)-targs.view(-1))**2).mean().sqrt())
    try: learn.feature_importance(dl, metric=flaky, higher_is_better=False, n_repeats=1, seed=0); res['one_fails'] = None
    except Exception as e: res['one_fails'] = _err(e)

    # an argument or data error on one rank only, before any message: every rank raises in that call, and the next call works
    try: learn.feature_importance(dl, n_repeats=0 if r == 1 else 1, seed=0); res['arg_one_rank'] = None
    except Exception as e: res['arg_one_rank'] = _err(e)
    run('after_arg_error', lambda: learn.feature_importance(dl, n_repeats=1, seed=0))
    rows = df.drop(columns='y').iloc[:3].copy()
    if r == 1: rows['x0'] = rows['x0'].astype(object); rows.loc[rows.index[0], 'x0'] = 'not a number'
    try: learn.explain(rows, background=df.iloc[:20], seed=0); res['level_one_rank'] = None
    except Exception as e: res['level_one_rank'] = _err(e)
    run('after_level_error', lambda: learn.partial_dependence('x0', dl=dl, seed=0))

    # Ctrl-C on one rank while it computes its share: the other raises at once (not after the process group's timeout)
    def interrupted(preds, targs):
        if dist.get_rank() == 1: raise KeyboardInterrupt
        return float(((preds.view(-1)-targs.view(-1))**2).mean())
    try: learn.feature_importance(dl, metric=interrupted, higher_is_better=False, n_repeats=1, seed=0); res['interrupt'] = None
    except KeyboardInterrupt: res['interrupt'] = 'KeyboardInterrupt'
    except Exception as e: res['interrupt'] = _err(e)
    run('after_interrupt', lambda: learn.feature_importance(dl, n_repeats=1, seed=0))

    # an analysis called on rank 0 only: an error after JOIN_TIMEOUT, not a hang; `one_process()` is the way to do it
    fd.JOIN_TIMEOUT = 4.
    if r == 0:
        try: learn.feature_importance(dl, n_repeats=1, seed=0); res['lone'] = None
        except Exception as e: res['lone'] = _err(e)
        with fd.one_process(): run('lone_one_process', lambda: learn.feature_importance(dl, n_repeats=2, seed=1))
    dist.barrier()
    with open(out/f'rank{r}.pkl', 'wb') as f: pickle.dump(dict(res=res, errs=errs), f)
    dist.destroy_process_group()


if __name__ == '__main__': main()
