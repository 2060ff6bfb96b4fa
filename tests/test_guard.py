"""Issue 9: two threads analysing one learner at once. Each analysis is a `guest` of the learner (a per-learner
re-entrant lock, the global RNGs and every module's train/eval flag restored on exit). The old code saved and
restored the model's mode per call without a lock, so two overlapping calls could leave a model that was training
in eval mode (the second call saved the first one's eval mode and restored it), and drew from global RNGs."""
import random, threading
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastinterp.all import *
from fastinterp.guard import guest, guarded, learner_lock, preserved_rng, eval_mode, derived_seed
from helpers import rng_states, same_rng

KW = dict(n_repeats=2, max_samples=200, seed=7)


def _two_threads(fn):
    "Run `fn()` in two threads started together; their results (or the first exception)"
    out, errs, bar = [None, None], [], threading.Barrier(2)
    def run(i):
        try:
            bar.wait()
            out[i] = fn()
        except BaseException as e: errs.append(e)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in ts: t.start()
    for t in ts: t.join()
    if errs: raise errs[0]
    return out


def test_two_threads_feature_importance(reg_learn):
    learn = reg_learn
    seq = learn.feature_importance(**KW)
    learn.model.train()
    try:
        for trial in range(8):
            torch.manual_seed(trial); random.seed(trial); np.random.seed(trial)
            st = rng_states()
            a, b = _two_threads(lambda: learn.feature_importance(**KW))
            assert all(m.training for m in learn.model.modules()), trial   # still training
            assert same_rng(st, rng_states()), trial                       # global RNGs untouched
            pd.testing.assert_frame_equal(a, seq)
            pd.testing.assert_frame_equal(b, seq)
    finally: learn.model.eval()


def test_two_threads_different_analyses(reg_learn):
    "A partial dependence and an importance at once give what each gives alone"
    learn = reg_learn
    fi, pdp = learn.feature_importance(**KW), learn.partial_dependence('x0', grid_resolution=4, seed=1)
    learn.model.train()
    try:
        for trial in range(4):
            st = rng_states()
            a, b = _two_threads(lambda: (learn.feature_importance(**KW), learn.partial_dependence('x0', grid_resolution=4, seed=1)))
            assert all(m.training for m in learn.model.modules())
            assert same_rng(st, rng_states())
            for r in (a, b):
                pd.testing.assert_frame_equal(r[0], fi)
                pd.testing.assert_frame_equal(r[1], pdp)
    finally: learn.model.eval()


def test_guest_restores_on_error(reg_learn):
    learn = reg_learn
    learn.model.train(); learn.model.bn_cont.eval()
    modes = [m.training for m in learn.model.modules()]
    try:
        st = rng_states()
        with pytest.raises(RuntimeError):
            with guest(learn):
                learn.model.eval(); torch.rand(3); random.random(); np.random.rand()
                with guest(learn): pass                 # re-entrant in the same thread
                raise RuntimeError('boom')
        assert same_rng(st, rng_states())
        fct.test_eq([m.training for m in learn.model.modules()], modes)
        assert learner_lock(learn) is learner_lock(learn)
        assert learner_lock(learn).acquire(blocking=False); learner_lock(learn).release()   # released
    finally: learn.model.eval()


def test_eval_mode_restores_each_module():
    m = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5), torch.nn.BatchNorm1d(2))
    m.train(); m[2].eval()
    with eval_mode(m): assert not any(x.training for x in m.modules())
    fct.test_eq([x.training for x in m.modules()], [True, True, True, False])


def test_derived_seed():
    "Seeds of the jobs of an analysis: stable, distinct, 63-bit"
    fct.test_eq(derived_seed(0, 1, 2), derived_seed(0, 1, 2))
    s = {derived_seed(0, f, r) for f in range(10) for r in range(10)} | {derived_seed(1, 0, 0)}
    fct.test_eq(len(s), 101)
    assert all(0 <= x < 2**63 for x in s)
