"Correctness of the engine's fast paths (the `TabularModel` first-layer shortcut) and of the benchmark's baselines. No timing asserts."
import contextlib, importlib.util, pathlib
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastai.tabular.model import TabularModel
import fastinterp.core as core
from fastinterp.core import build_cache, make_scorer, private_generator, run_perturbed, permuter, replacer, encode_values
from fastinterp.importance import permutation_importance
import fastinterp.dependence  # noqa: F401  (Learner.partial_dependence)


class Wrapped(torch.nn.Module):
    "Any model but a `TabularModel`: the engine runs it whole (the plain path)"
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, *x): return self.m(*x)


@contextlib.contextmanager
def shortcut_off():
    of = core._TabularShortcut.of
    core._TabularShortcut.of = classmethod(lambda cls, *a: None)
    try: yield
    finally: core._TabularShortcut.of = of


def _pi(model, cache, scorer, **kw):
    return permutation_importance(model, cache, scorer, generator=private_generator(0)[0], **kw).set_index('feature')


def _same_importances(a, b, tol=1e-4):
    fct.test_eq(sorted(a.index), sorted(b.index))
    b = b.loc[a.index]
    for c in ('importance', 'std', 'ci_low', 'ci_high'):
        np.testing.assert_allclose(a[c].to_numpy(), b[c].to_numpy(), rtol=tol, atol=tol, equal_nan=True)
    np.testing.assert_allclose(a.attrs['baseline'], b.attrs['baseline'], rtol=1e-6)


@pytest.mark.parametrize('fixture', ['reg_learn', 'clf_learn', 'na_learn'])
@pytest.mark.parametrize('bs', [37, 8192])
def test_shortcut_matches_plain_path(fixture, bs, request):
    learn = request.getfixturevalue(fixture)
    cache, scorer = build_cache(learn), make_scorer(learn)
    assert core._TabularShortcut.of(learn.model, cache.xs, bs) is not None
    _same_importances(_pi(learn.model, cache, scorer, n_repeats=2, bs=bs), _pi(Wrapped(learn.model), cache, scorer, n_repeats=2, bs=bs))


def test_feature_importance_unchanged_with_groups_metric_and_subsample(na_learn):
    from fastai.metrics import rmse
    kw = dict(n_repeats=2, seed=1, groups={'mixed': ['cat_a', 'x1', 'noise_cont']}, max_samples=300)
    for extra in ({}, dict(metric=rmse)):
        fast = na_learn.feature_importance(**kw, **extra)
        with shortcut_off(): slow = na_learn.feature_importance(**kw, **extra)
        fct.test_eq(list(fast.feature), list(slow.feature))
        _same_importances(fast.set_index('feature'), slow.set_index('feature'))


def test_partial_dependence_unchanged(reg_learn):
    for feat in ('x0', 'cat_a'):
        fast = reg_learn.partial_dependence(feat, ice=True)
        with shortcut_off(): slow = reg_learn.partial_dependence(feat, ice=True)
        np.testing.assert_allclose(fast['average'], slow['average'], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(fast.attrs['ice'], slow.attrs['ice'], rtol=1e-4, atol=1e-4)


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
    g = private_generator(0)[0]
    jobs = [None] + [permuter([l], torch.randperm(300, generator=g)) for l in locs] + [permuter(locs, torch.randperm(300, generator=g))]
    jobs += [replacer([l], [1 if l[0] == 0 else 0.5]) for l in locs]
    assert core._TabularShortcut.of(m, xs, 128) is not None
    before = [x.clone() for x in xs]
    for bs in (50, 128, 5000):
        fast = dict(run_perturbed(m, xs, jobs, lambda p, a, b: p, bs=bs))
        slow = dict(run_perturbed(Wrapped(m), xs, jobs, lambda p, a, b: p, bs=bs))
        for k in slow: fct.test_close(fast[k], slow[k], eps=1e-4)
    for x, b in zip(xs, before): fct.test_eq(x, b)   # the cache is never written


def test_shortcut_falls_back():
    m, xs = _random_tabular([(4, 3)], 2)
    assert core._TabularShortcut.of(Wrapped(m), xs, 64) is None
    assert core._TabularShortcut.of(torch.nn.Linear(3, 1), (torch.randn(5, 3),), 64) is None
    lf, xs2 = _random_tabular([(4, 3)], 2, lin_first=False)
    assert core._TabularShortcut.of(lf, xs2, 64) is None

    class Custom(TabularModel):
        def forward(self, x_cat, x_cont=None): return super().forward(x_cat, x_cont) * 2
    c = Custom([(4, 3)], 2, out_sz=1, layers=[8]).eval()
    assert core._TabularShortcut.of(c, xs, 64) is None
    h = m.bn_cont.register_forward_pre_hook(lambda *a: None)
    assert core._TabularShortcut.of(m, xs, 64) is None
    h.remove()
    assert core._TabularShortcut.of(m, xs, 64) is not None
    old = core._SHORTCUT_MAX_BYTES
    try:
        core._SHORTCUT_MAX_BYTES = 0
        assert core._TabularShortcut.of(m, xs, 64) is None
    finally: core._SHORTCUT_MAX_BYTES = old


def test_unknown_perturbation_goes_through_full_first_layer():
    m, xs = _random_tabular([(4, 3), (6, 2)], 3)
    def swap_two_cols(work, xs_, a, b):   # a perturbation without `locs`
        work[1][:, [0, 1]] = work[1][:, [1, 0]].clone()
    fast = dict(run_perturbed(m, xs, [None, swap_two_cols], lambda p, a, b: p, bs=70))
    slow = dict(run_perturbed(Wrapped(m), xs, [None, swap_two_cols], lambda p, a, b: p, bs=70))
    for k in slow: fct.test_close(fast[k], slow[k], eps=1e-4)


def test_bf16_autocast_cpu(reg_learn):
    cache, scorer = build_cache(reg_learn), make_scorer(reg_learn)
    fast = _pi(reg_learn.model, cache, scorer, n_repeats=2, autocast_dtype=torch.bfloat16)
    slow = _pi(Wrapped(reg_learn.model), cache, scorer, n_repeats=2, autocast_dtype=torch.bfloat16)
    full = _pi(reg_learn.model, cache, scorer, n_repeats=2)
    fct.test_eq(list(fast.index[:3]), list(full.index[:3]))
    np.testing.assert_allclose(fast.importance, slow.loc[fast.index].importance, rtol=0.05, atol=0.02)
    np.testing.assert_allclose(fast.importance, full.loc[fast.index].importance, rtol=0.05, atol=0.02)


def test_to_bf16_learner_runs(reg_learn):
    import copy
    learn = copy.copy(reg_learn)
    learn.model = copy.deepcopy(reg_learn.model)
    learn.cbs = copy.copy(reg_learn.cbs)
    learn.to_bf16()
    assert core.amp_dtype(learn) == torch.bfloat16
    fi = learn.feature_importance(n_repeats=1, seed=0)
    fct.test_eq(set(fi.feature[:3]), {'x0', 'x1', 'cat_a'})


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu(reg_learn):
    import copy
    cpu_cache, scorer = build_cache(reg_learn), make_scorer(reg_learn)
    m = copy.deepcopy(reg_learn.model).cuda()
    gpu_cache = core.InputCache(xs=tuple(x.cuda() for x in cpu_cache.xs), ys=tuple(y.cuda() for y in cpu_cache.ys),
                                features=cpu_cache.features, rows=None)
    _same_importances(_pi(m, gpu_cache, scorer, n_repeats=2), _pi(reg_learn.model, cpu_cache, scorer, n_repeats=2), tol=1e-3)


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
    from fastinterp.synth import synth_df
    raw = synth_df(2000).loc[reg_learn.dls.valid.items.index]   # the fixture's raw validation rows
    sk = b.sklearn_importance(reg_learn, raw, 1, p, bs=1024)
    cols = list(reg_learn.dls.cat_names) + list(reg_learn.dls.cont_names)
    sk = pd.Series(sk.importances_mean, index=cols).sort_values(ascending=False)
    fi = reg_learn.feature_importance(n_repeats=1, seed=0)
    fct.test_eq(forum.index[0], fi.feature[0])
    fct.test_eq(sk.index[0], fi.feature[0])
    fct.test_eq(set(sk.index[:3]), set(fi.feature[:3]))
