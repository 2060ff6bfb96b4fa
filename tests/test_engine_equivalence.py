"""The engine's fast paths (the `TabularModel` first-layer shortcut) compute exactly what the plain path computes;
`shortcuts(False)` is the public switch between them; mixed-precision learners are scored as fastai scores them.
No timing asserts: speed is the benchmark's business (benchmarks/bench_importance.py)."""
import copy, importlib.util, pathlib, warnings
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastai.tabular.model import TabularModel
import fastinterp.engine as engine
from fastinterp.all import *
from fastinterp.engine import run_perturbed, autocast_dtype
from fastinterp.perturb import Perturbation, Permute, Replace, gather_values
from fastinterp.scoring import make_scorer
from fastinterp.importance import compute_importance
from fastinterp.inputs import Columns
from fastinterp.runner import Runner
from fastinterp.guard import derived_seed
from fastinterp.guard import generator
from helpers import SIGNAL, valid_df, fresh_copy, brute_force_preds


class Wrapped(torch.nn.Module):
    "Any model but a `TabularModel`: the engine runs it whole (the plain path)"
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, *x): return self.m(*x)


def _jobs(es, seed=0):
    "Each (feature, repeat)'s permutation, as feature_importance makes them"
    names, prov = list(es.features), Columns(None, es)
    return lambda f, r, n: prov.job(names[f], es.features[names[f]], derived_seed(seed, f, r), n)


def _pi(model, es, scorer, n_repeats=2, **kw):
    res, base, *_ = compute_importance(Runner(model=model, seed=0), es, scorer, es.features, _jobs(es), n_repeats, **kw)
    return res.set_index('feature'), base


def _same_importances(a, b, tol=1e-4):
    (a, base_a), (b, base_b) = a, b
    fct.test_eq(sorted(a.index), sorted(b.index))
    b = b.loc[a.index]
    for c in ('importance', 'std', 'ci_low', 'ci_high'):
        np.testing.assert_allclose(a[c].to_numpy(), b[c].to_numpy(), rtol=tol, atol=tol, equal_nan=True)
    np.testing.assert_allclose(base_a, base_b, rtol=1e-6)


@pytest.fixture
def shortcut_calls(monkeypatch):
    "Records each forward pass the TabularModel shortcut runs (an observer: the engine's behaviour is unchanged)"
    calls, orig = [], engine._TabularShortcut.forward
    def forward(self, n):
        calls.append(n)
        return orig(self, n)
    monkeypatch.setattr(engine._TabularShortcut, 'forward', forward)
    return calls


@pytest.mark.parametrize('fixture', ['reg_learn', 'clf_learn', 'na_learn'])
@pytest.mark.parametrize('bs', [37, 8192])
def test_shortcut_matches_plain_path(fixture, bs, request, shortcut_calls):
    learn = request.getfixturevalue(fixture)
    es, scorer = learn.eval_set(), make_scorer(learn)
    fast = _pi(learn.model, es, scorer, bs=bs)
    assert shortcut_calls, 'the shortcut was not taken'
    n = len(shortcut_calls)
    with shortcuts(False): plain = _pi(learn.model, es, scorer, bs=bs)
    fct.test_eq(len(shortcut_calls), n)              # switched off: not one pass through it
    wrapped = _pi(Wrapped(learn.model), es, scorer, bs=bs)
    fct.test_eq(len(shortcut_calls), n)
    _same_importances(fast, plain)
    _same_importances(fast, wrapped)


def test_shortcuts_switch(reg_learn, shortcut_calls):
    "`shortcuts(False)` switches the fast path off inside the block only; `shortcut=` of run_perturbed overrides it"
    es = reg_learn.eval_set()
    jobs = lambda: [None, Permute([(1, 0)], torch.randperm(len(es), generator=generator(0)))]
    keep = lambda p, a, b: p
    def run(**kw): return dict(run_perturbed(reg_learn.model, es.xs, jobs(), keep, **kw))
    ref = run()
    k = len(shortcut_calls); assert k > 0
    with shortcuts(False):
        plain = run()
        fct.test_eq(len(shortcut_calls), k)
        with shortcuts(True): run()                   # nested: on again
        assert len(shortcut_calls) > k; k = len(shortcut_calls)
        run(shortcut=True)                             # an explicit argument wins
        assert len(shortcut_calls) > k; k = len(shortcut_calls)
    run(); assert len(shortcut_calls) > k; k = len(shortcut_calls)   # back on after the block
    run(shortcut=False); fct.test_eq(len(shortcut_calls), k)
    for j in ref: fct.test_close(ref[j], plain[j], eps=1e-4)


def test_feature_importance_unchanged_with_groups_metric_and_subsample(na_learn):
    from fastai.metrics import rmse
    kw = dict(n_repeats=2, seed=1, groups={'mixed': ['cat_a', 'x1', 'noise_cont']}, max_samples=300)
    for extra in ({}, dict(metric=rmse)):
        fast = na_learn.feature_importance(**kw, **extra)
        with shortcuts(False): slow = na_learn.feature_importance(**kw, **extra)
        fct.test_eq(list(fast.feature), list(slow.feature))
        _same_importances((fast.set_index('feature'), fast.attrs['baseline']), (slow.set_index('feature'), slow.attrs['baseline']))


def test_partial_dependence_and_ale_unchanged(reg_learn):
    for feat in ('x0', 'cat_a'):
        fast = reg_learn.partial_dependence(feat, details=True, seed=0)
        with shortcuts(False): slow = reg_learn.partial_dependence(feat, details=True, seed=0)
        np.testing.assert_allclose(fast.frame['average'], slow.frame['average'], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(fast.ice, slow.ice, rtol=1e-4, atol=1e-4)
    fast = reg_learn.ale('x0', bins=8, seed=0)
    with shortcuts(False): slow = reg_learn.ale('x0', bins=8, seed=0)
    np.testing.assert_allclose(fast['ale'], slow['ale'], rtol=1e-4, atol=1e-4)


def _random_tabular(emb_szs, n_cont, n=300, seed=0, **kw):
    torch.manual_seed(seed)
    m = TabularModel(emb_szs, n_cont, out_sz=2, layers=[16, 8], **kw)
    for mod in m.modules():   # non-trivial BatchNorm statistics, so a wrong affine would show
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.running_mean.normal_(); mod.running_var.uniform_(0.5, 2)
    cats = torch.stack([torch.randint(0, k, (n,)) for k,_ in emb_szs], 1) if emb_szs else torch.zeros(n, 0, dtype=torch.long)
    return m.eval(), (cats, torch.randn(n, n_cont))


@pytest.mark.parametrize('emb_szs,n_cont,kw', [
    ([(4, 3), (7, 2)], 3, {}),
    ([(4, 3), (7, 2)], 3, dict(use_bn=False, bn_cont=False)),
    ([(4, 3), (7, 2)], 3, dict(y_range=(0, 5), ps=[0.2, 0.1], embed_p=0.1)),
    ([], 4, {}),                 # only continuous columns
    ([(5, 3), (3, 2)], 0, {}),   # only categorical columns
])
def test_shortcut_exact_on_tabular_variants(emb_szs, n_cont, kw):
    m, xs = _random_tabular(emb_szs, n_cont, **kw)
    locs = [(0, i) for i in range(len(emb_szs))] + [(1, j) for j in range(n_cont)]
    g = generator(0)
    jobs = [None] + [Permute([l], torch.randperm(300, generator=g)) for l in locs] + [Permute(locs, torch.randperm(300, generator=g))]
    jobs += [Replace([l], [1 if l[0] == 0 else 0.5]) for l in locs]
    # ALE's perturbation: each row takes one of a few values, from a source of its own
    vals = torch.tensor([[1., 0.], [2., 1.], [0., 2.]])[:, :len(locs[:2])]   # valid codes for any column here
    jobs += [gather_values(locs[:2], vals, torch.randint(0, 3, (300,), generator=g), xs)]
    assert engine._TabularShortcut.of(m, xs, 128) is not None
    before = [x.clone() for x in xs]
    for bs in (50, 128, 5000):
        fast = dict(run_perturbed(m, xs, jobs, lambda p, a, b: p, bs=bs))
        slow = dict(run_perturbed(m, xs, jobs, lambda p, a, b: p, bs=bs, shortcut=False))
        fct.test_eq(sorted(fast), list(range(len(jobs))))
        for k in slow: fct.test_close(fast[k], slow[k], eps=1e-4)
    for x, b in zip(xs, before): fct.test_eq(x, b)   # the cache is never written


def test_shortcut_falls_back(monkeypatch):
    m, xs = _random_tabular([(4, 3)], 2)
    assert engine._TabularShortcut.of(Wrapped(m), xs, 64) is None
    assert engine._TabularShortcut.of(torch.nn.Linear(3, 1), (torch.randn(5, 3),), 64) is None
    lf, xs2 = _random_tabular([(4, 3)], 2, lin_first=False)
    assert engine._TabularShortcut.of(lf, xs2, 64) is None

    class Custom(TabularModel):
        def forward(self, x_cat, x_cont=None): return super().forward(x_cat, x_cont) * 2
    c = Custom([(4, 3)], 2, out_sz=1, layers=[8]).eval()
    assert engine._TabularShortcut.of(c, xs, 64) is None
    h = m.bn_cont.register_forward_pre_hook(lambda *a: None)
    assert engine._TabularShortcut.of(m, xs, 64) is None
    h.remove()
    assert engine._TabularShortcut.of(m, xs, 64) is not None
    monkeypatch.setattr(engine, '_SHORTCUT_MAX_BYTES', 0)
    assert engine._TabularShortcut.of(m, xs, 64) is None


class SwapTwoCols(Perturbation):
    "A perturbation the shortcut doesn't know: swaps continuous columns 0 and 1"
    def __init__(self): super().__init__([(1, 0), (1, 1)])
    def apply(self, work, xs, start, stop): work[1][:, [0, 1]] = work[1][:, [1, 0]].clone()


def test_unknown_perturbation_goes_through_full_first_layer():
    m, xs = _random_tabular([(4, 3), (6, 2)], 3)
    jobs = [None, SwapTwoCols()]
    fast = dict(run_perturbed(m, xs, jobs, lambda p, a, b: p, bs=70))
    slow = dict(run_perturbed(Wrapped(m), xs, jobs, lambda p, a, b: p, bs=70))
    for k in slow: fct.test_close(fast[k], slow[k], eps=1e-4)
    assert not torch.allclose(fast[0], fast[1])   # it did perturb


def test_bf16_autocast_cpu(reg_learn):
    "The engine's autocast (as on CUDA for a mixed-precision learner) runs the shortcut and the plain path alike"
    es, scorer = reg_learn.eval_set(), make_scorer(reg_learn)
    fast, _ = _pi(reg_learn.model, es, scorer, amp=torch.bfloat16)
    slow, _ = _pi(Wrapped(reg_learn.model), es, scorer, amp=torch.bfloat16)
    full, _ = _pi(reg_learn.model, es, scorer)
    fct.test_eq(list(fast.index[:3]), list(full.index[:3]))
    np.testing.assert_allclose(fast.importance, slow.loc[fast.index].importance, rtol=0.05, atol=0.02)
    np.testing.assert_allclose(fast.importance, full.loc[fast.index].importance, rtol=0.05, atol=0.02)


def test_autocast_dtype_follows_fastai(reg_learn):
    "fastai's MixedPrecision autocasts on CUDA only; so does the engine"
    learn = fresh_copy(reg_learn)
    fct.test_eq(autocast_dtype(learn, 'cpu'), None)
    fct.test_eq(autocast_dtype(learn, 'cuda'), None)
    learn.to_bf16()
    fct.test_eq(autocast_dtype(learn, 'cpu'), None)
    fct.test_eq(autocast_dtype(learn, 'cuda'), torch.bfloat16)
    learn.to_fp32().to_fp16()
    fct.test_eq(autocast_dtype(learn, 'cuda'), torch.float16)
    learn.to_fp32()
    fct.test_eq(autocast_dtype(learn, 'cuda'), None)


@pytest.mark.parametrize('mode', ['bf16', 'fp16'])
def test_mixed_precision_learner_on_cpu(reg_learn, mode):
    """Issue 9: a learner after `to_bf16()`/`to_fp16()` on CPU is run in float32 by fastai (its autocast is CUDA's), so
    feature_importance's baseline is `validate()`'s loss and partial_dependence is test_dl + get_preds, to 1e-6.
    (The old code autocast to bfloat16 on CPU, and its numbers drifted from fastai's.)"""
    learn = fresh_copy(reg_learn)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')   # GradScaler: "CUDA is not available" on a CPU machine
        getattr(learn, f'to_{mode}')()
        try:
            with learn.no_bar():
                fi = learn.feature_importance(n_repeats=1, seed=0)
                fct.test_eq(set(fi.feature[:3]), SIGNAL)
                loss = learn.validate()[0]
                np.testing.assert_allclose(fi.attrs['baseline'], loss, rtol=1e-6)
                pdr = learn.partial_dependence('x0', grid_resolution=4, seed=0)
                df = valid_df(reg_learn)
                ref = [brute_force_preds(learn, df, {'x0': v})[:, 0].mean() for v in pdr.value]
                np.testing.assert_allclose(pdr.average.to_numpy(), ref, rtol=1e-6, atol=1e-6)
        finally: learn.to_fp32()
    assert not any(type(cb).__name__ == 'MixedPrecision' for cb in learn.cbs)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu(reg_learn):
    learn = fresh_copy(reg_learn)
    learn.model.cuda()
    try:
        gpu = learn.feature_importance(n_repeats=2, seed=0)
        cpu = reg_learn.feature_importance(n_repeats=2, seed=0)
        _same_importances((gpu.set_index('feature'), gpu.attrs['baseline']), (cpu.set_index('feature'), cpu.attrs['baseline']), tol=1e-3)
        g = learn.partial_dependence('x0', grid_resolution=4, seed=0)
        c = reg_learn.partial_dependence('x0', grid_resolution=4, seed=0)
        np.testing.assert_allclose(g.average, c.average, rtol=1e-4, atol=1e-4)
        learn.to_fp16()
        with learn.no_bar():   # on CUDA, autocast as fastai's validate does
            fct.test_close(learn.feature_importance(n_repeats=1, seed=0).attrs['baseline'], learn.validate()[0], eps=1e-2)
    finally: learn.to_fp32(); learn.model.cpu()


def _bench():
    path = pathlib.Path(__file__).parents[1]/'benchmarks'/'bench_importance.py'
    spec = importlib.util.spec_from_file_location('bench_importance', path)
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def test_benchmark_baselines_agree(reg_learn):
    "The forum loop and the sklearn wrapper the benchmark times compute the same thing as fastinterp (top features)"
    b = _bench()
    p = b.Passes(total=10**6, budget=float('inf'))
    p.start()
    forum = pd.Series(b.forum_importance(reg_learn, 1, p, bs=1024)).sort_values(ascending=False)
    raw = valid_df(reg_learn)   # the fixture's raw validation rows
    sk = b.sklearn_importance(reg_learn, raw, 1, p, bs=1024)
    cols = list(reg_learn.dls.cat_names) + list(reg_learn.dls.cont_names)
    sk = pd.Series(sk.importances_mean, index=cols).sort_values(ascending=False)
    fi = reg_learn.feature_importance(n_repeats=1, seed=0)
    fct.test_eq(forum.index[0], fi.feature[0])
    fct.test_eq(sk.index[0], fi.feature[0])
    fct.test_eq(set(sk.index[:3]), set(fi.feature[:3]))
    # the benchmark's plain path is the public switch, and gives the same table
    plain = b._plain(b.run_fastinterp, reg_learn, 1)
    np.testing.assert_allclose(plain.importance, b.run_fastinterp(reg_learn, 1).importance, rtol=1e-4, atol=1e-4)
