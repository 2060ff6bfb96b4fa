"""`fastinterp.shapley` (the estimator behind `learn.explain`): ground truth, agreement with captum's exact
`ShapleyValues`, sampling error against exact enumeration, exact additivity, shortcut == plain path, `bs` independence,
no side effects; and `learn.explain`'s use of it (default method, `exact=`, `n_samples=`, attrs, no captum needed)."""
import sys
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastai.tabular.all import tabular_learner
from fastai.tabular.model import TabularModel
from fastinterp.all import *
from fastinterp.shapley import shapley_values, exact_shapley, EXACT_MAX_FEATURES
from fastinterp.evalset import materialize
from fastinterp.inputs import tabular_features
from fastinterp.outputs import activation, output_fn
from fastinterp.guard import eval_mode, generator
from fastinterp.synth import synth_df
from helpers import rng_states, same_rng, SIGNAL, NOISE


def _rel(a, b):
    "mean absolute error of `a` against `b`, relative to mean |b|"
    return float(np.abs(a - b).mean() / np.abs(b).mean())


def _additive(r, tol=1e-9):
    p = r['prediction']
    np.testing.assert_allclose(r['base'] + r['contributions'].sum(1), p, rtol=0, atol=tol * (1 + np.abs(p).max()))


def _tensors(learn, n_rows=30, n_bg=40, start=0):
    xs, _ = materialize(learn.dls.valid)
    feats = tabular_features(learn.dls.valid)
    return (tuple(x[start:start + n_rows] for x in xs), tuple(x[200:200 + n_bg] for x in xs), feats)


# ---------------------------------------------------------------- ground truth
def _linear_tabular(seed=0, n=40):
    "A TabularModel with no hidden layer: f = W z + b, so the Shapley value of feature j is W[:, S_j] (z_x - mean_b z_b)[S_j]"
    torch.manual_seed(seed)
    m = TabularModel([(5, 3), (4, 2)], 3, 1, layers=[]).eval()
    with torch.no_grad():
        m.bn_cont.running_mean.normal_(); m.bn_cont.running_var.uniform_(0.5, 2)
    xs = (torch.stack([torch.randint(0, 5, (n,)), torch.randint(0, 4, (n,))], 1), torch.randn(n, 3))
    feats = {'c0': [(0, 0)], 'c1': [(0, 1)], 'x0': [(1, 0)], 'x1': [(1, 1)], 'x2': [(1, 2)]}
    return m, xs, feats


@pytest.mark.parametrize('shortcut', [True, False])
def test_linear_model_ground_truth(shortcut):
    "For a model linear in z, every walk is exact: sampled and enumerated values equal the closed form"
    m, xs, feats = _linear_tabular()
    rows, bg = tuple(x[:10] for x in xs), tuple(x[10:] for x in xs)
    with torch.no_grad():
        def z(x): return torch.cat([m.embeds[0](x[0][:, 0]), m.embeds[1](x[0][:, 1]), m.bn_cont(x[1])], 1)
        W = m.layers[0][0].weight[0]
        d = (z(rows) - z(bg).mean(0)) * W
        truth = torch.stack([d[:, 0:3].sum(1), d[:, 3:5].sum(1), d[:, 5], d[:, 6], d[:, 7]], 1).double().numpy()
    for r in (shapley_values(m, rows, bg, feats, exact=False, seed=1, shortcut=shortcut),
              shapley_values(m, rows, bg, feats, exact=False, n_samples=1, seed=2, shortcut=shortcut),
              exact_shapley(m, rows, bg, feats, shortcut=shortcut)):
        np.testing.assert_allclose(r['contributions'], truth, atol=1e-5)
        _additive(r)


class Product(torch.nn.Module):
    "f(x) = x0 * x1 + sin(x2): an interaction, and an additive feature"
    def forward(self, x): return (x[:, 0] * x[:, 1] + torch.sin(x[:, 2]))[:, None]


def test_interaction_ground_truth():
    "Single-baseline game of x0*x1: phi_0 = (x0-b0)(x1+b1)/2; averaged over the background rows"
    g = generator(0)
    x, b = torch.randn(8, 3, generator=g, dtype=torch.float64), torch.randn(20, 3, generator=g, dtype=torch.float64)
    feats = {'x0': [(0, 0)], 'x1': [(0, 1)], 'x2': [(0, 2)]}
    x0, x1, b0, b1 = x[:, 0:1], x[:, 1:2], b[None, :, 0], b[None, :, 1]
    truth = np.stack([((x0 - b0) * (x1 + b1) / 2).mean(1).numpy(), ((x1 - b1) * (x0 + b0) / 2).mean(1).numpy(),
                      (torch.sin(x[:, 2:3]) - torch.sin(b[None, :, 2])).mean(1).numpy()], 1)
    np.testing.assert_allclose(exact_shapley(Product(), (x,), (b,), feats)['contributions'], truth, atol=1e-6)
    # with 2 features the two orders are each other's reverse: one antithetic pair of walks is exact
    f2 = {'x01': [(0, 0), (0, 1)], 'x2': [(0, 2)]}
    np.testing.assert_allclose(shapley_values(Product(), (x,), (b,), f2, exact=False, n_samples=2)['contributions'],
                               exact_shapley(Product(), (x,), (b,), f2)['contributions'], atol=1e-9)
    s = shapley_values(Product(), (x,), (b,), feats, exact=False, n_samples=64, seed=0)
    assert _rel(s['contributions'], truth) < 0.05
    _additive(s)


def test_trained_learner_recovers_the_formula(reg_learn):
    "y = 2*x0 + ...: x0's contribution is about 2*(x0 - background mean of x0), in raw units; noise features about 0"
    df = synth_df(150, seed=11)
    bg = synth_df(50, seed=12)
    e = reg_learn.explain(df, background=bg, seed=0)
    c = e.pivot(index='row', columns='feature', values='contribution')
    slope = np.polyfit(df.x0 - bg.x0.mean(), c['x0'], 1)[0]
    fct.test_close(slope, 2, eps=0.35)
    assert np.corrcoef(df.x0, c['x0'])[0, 1] > 0.95
    assert c[NOISE].abs().mean().max() < 0.1 * c['x0'].abs().mean()
    by_level = c['cat_a'].groupby(df.cat_a.to_numpy()).mean()   # effects a: -1.5, b: 0, c: +1.5
    assert by_level['a'] < by_level['b'] < by_level['c']
    fct.test_close(by_level['c'] - by_level['a'], 3, eps=1.0)            # the model, 4 epochs in, has learnt about 2.4 of the 3


# ---------------------------------------------------------------- exact vs captum, sampling vs exact
@pytest.mark.parametrize('which', ['reg_learn', 'clf_learn', 'na_learn'])
def test_exact_matches_captum_shapley_values(which, request):
    learn = request.getfixturevalue(which)
    df = synth_df(3, seed=5, missing=0.3 if which == 'na_learn' else 0.)
    bg = synth_df(6, seed=6, missing=0.3 if which == 'na_learn' else 0.)
    ours = learn.explain(df, background=bg, seed=0)                      # 5 features: enumerated
    fct.test_eq(ours.attrs['exact'], True)
    theirs = learn.explain(df, background=bg, method='shapley_exact', seed=0)   # captum: all 5! orders per baseline
    key = ['row', 'feature']
    np.testing.assert_allclose(ours.sort_values(key).contribution.to_numpy(), theirs.sort_values(key).contribution.to_numpy(), atol=2e-5)


@pytest.mark.parametrize('which', ['reg_learn', 'clf_learn', 'na_learn'])
def test_sampling_error_small_and_additive(which, request):
    learn = request.getfixturevalue(which)
    rows, bg, feats = _tensors(learn, 40, 50)
    act = activation(learn)
    t = 1 if which == 'clf_learn' else 0
    ex = exact_shapley(learn.model, rows, bg, feats, target=t, act=act)
    errs = [_rel(shapley_values(learn.model, rows, bg, feats, target=t, act=act, exact=False, seed=s)['contributions'], ex['contributions'])
            for s in range(3)]
    assert max(errs) < 0.06, errs                                        # 4 walks per pair; measured 1-4%
    more = _rel(shapley_values(learn.model, rows, bg, feats, target=t, act=act, exact=False, n_samples=32, seed=0)['contributions'], ex['contributions'])
    assert more < np.mean(errs)                                          # more walks, less error
    for r in (ex, shapley_values(learn.model, rows, bg, feats, target=t, act=act, exact=False, n_samples=3)):
        _additive(r)
        with eval_mode(learn.model), torch.no_grad():
            p = output_fn(learn.model, act)(*rows)[:, t].double().numpy()
            b = output_fn(learn.model, act)(*bg)[:, t].double().mean().item()
        np.testing.assert_allclose(r['prediction'], p, atol=1e-6)
        np.testing.assert_allclose(r['base'], b, atol=1e-6)


def test_per_row_targets(clf_learn):
    rows, bg, feats = _tensors(clf_learn, 10, 20)
    t = torch.tensor([0, 1] * 5)
    act = activation(clf_learn)
    both = shapley_values(clf_learn.model, rows, bg, feats, target=t, act=act, exact=True)
    for k in (0, 1):
        one = shapley_values(clf_learn.model, rows, bg, feats, target=k, act=act, exact=True)
        np.testing.assert_allclose(both['contributions'][t.numpy() == k], one['contributions'][t.numpy() == k], atol=1e-12)
    # two classes: the contributions to 'neg' are minus those to 'pos'
    neg = shapley_values(clf_learn.model, rows, bg, feats, target=0, act=act, exact=True)['contributions']
    pos = shapley_values(clf_learn.model, rows, bg, feats, target=1, act=act, exact=True)['contributions']
    np.testing.assert_allclose(neg, -pos, atol=1e-6)


# ---------------------------------------------------------------- the shortcut and the plain path
def _random_tabular(seed=0, n=60, **kw):
    torch.manual_seed(seed)
    m = TabularModel([(4, 3), (7, 2)], 3, out_sz=2, layers=[16, 8], **kw)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.running_mean.normal_(); mod.running_var.uniform_(0.5, 2)
            with torch.no_grad(): mod.weight.uniform_(0.5, 1.5); mod.bias.normal_()
    xs = (torch.stack([torch.randint(0, 4, (n,)), torch.randint(0, 7, (n,))], 1), torch.randn(n, 3))
    return m.eval(), xs


FEATS5 = {'k0': [(0, 0)], 'k1': [(0, 1)], 'c0': [(1, 0)], 'c01': [(1, 1), (1, 2)]}


@pytest.mark.parametrize('kw', [{}, dict(use_bn=False), dict(bn_final=True), dict(y_range=(-1, 2), ps=[0.3, 0.2], embed_p=0.1),
                                dict(bn_cont=False), dict(lin_first=False)])
def test_shortcut_equals_plain_path(kw):
    m, xs = _random_tabular(**kw)
    rows, bg = tuple(x[:12] for x in xs), tuple(x[12:] for x in xs)
    for t in (0, 1):
        fast = shapley_values(m, rows, bg, FEATS5, target=t, exact=False, seed=4)
        with shortcuts(False): plain = shapley_values(m, rows, bg, FEATS5, target=t, exact=False, seed=4)
        np.testing.assert_allclose(fast['contributions'], plain['contributions'], atol=1e-5)   # the same walks
        _additive(fast); _additive(plain)
        np.testing.assert_allclose(exact_shapley(m, rows, bg, FEATS5, target=t)['contributions'],
                                   exact_shapley(m, rows, bg, FEATS5, target=t, shortcut=False)['contributions'], atol=1e-5)


def test_shortcut_on_learners(na_learn):
    rows, bg, feats = _tensors(na_learn, 30, 30)
    fast = shapley_values(na_learn.model, rows, bg, feats, exact=False, seed=0)
    plain = shapley_values(na_learn.model, rows, bg, feats, exact=False, seed=0, shortcut=False)
    np.testing.assert_allclose(fast['contributions'], plain['contributions'], atol=1e-5)


def test_bs_and_row_split_independence(reg_learn):
    rows, bg, feats = _tensors(reg_learn, 70, 30)
    ref = shapley_values(reg_learn.model, rows, bg, feats, exact=False, seed=3)
    for bs in (1, 50, 10**6):
        r = shapley_values(reg_learn.model, rows, bg, feats, exact=False, seed=3, bs=bs)
        np.testing.assert_allclose(r['contributions'], ref['contributions'], atol=1e-6)   # only float32 rounding differs
        np.testing.assert_allclose(exact_shapley(reg_learn.model, rows, bg, feats, bs=bs)['contributions'],
                                   exact_shapley(reg_learn.model, rows, bg, feats)['contributions'], atol=1e-6)
    # rows are drawn in blocks of 64: the first block's walks don't depend on the rows after it
    head = shapley_values(reg_learn.model, tuple(x[:64] for x in rows), bg, feats, exact=False, seed=3)
    np.testing.assert_allclose(head['contributions'], ref['contributions'][:64], atol=1e-6)
    assert not np.allclose(shapley_values(reg_learn.model, rows, bg, feats, exact=False, seed=4)['contributions'], ref['contributions'])


def test_null_players_and_single_baseline(reg_learn):
    rows, bg, feats = _tensors(reg_learn, 5, 1)
    self_ = shapley_values(reg_learn.model, bg, bg, feats, exact=False)
    # nothing differs: nothing to attribute (to within rounding: f(x) and f(b) may come from different batch layouts)
    fct.test_close(self_['contributions'], np.zeros((1, 5)), eps=1e-6)
    # a row that differs from its one baseline in a single feature: all the change goes to that feature
    one = tuple(b.clone() for b in bg)
    i, j = feats['x0'][0]
    one[i][0, j] += 1.
    r = shapley_values(reg_learn.model, one, bg, feats, exact=False)
    c = r['contributions'][0]
    fct.test_close(c[list(feats).index('x0')], r['prediction'][0] - r['base'][0], eps=1e-12)
    fct.test_eq(np.count_nonzero(c), 1)


def test_exact_default_threshold():
    "exact=None enumerates up to EXACT_MAX_FEATURES features and samples above"
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
    x = torch.randn(20, 8, generator=generator(1))
    for F in (EXACT_MAX_FEATURES, EXACT_MAX_FEATURES + 1):
        feats = {f'g{k}': [(0, k)] for k in range(F - 1)}
        feats['rest'] = [(0, k) for k in range(F - 1, 8)]
        d = shapley_values(mlp, (x[:4],), (x[4:],), feats, seed=0)['contributions']
        e = exact_shapley(mlp, (x[:4],), (x[4:],), feats)['contributions']
        if F <= EXACT_MAX_FEATURES: fct.test_eq(d, e)
        else: assert not np.array_equal(d, e) and _rel(d, e) < 0.1


def test_no_side_effects(reg_learn):
    rows, bg, feats = _tensors(reg_learn, 10, 10)
    before = [x.clone() for x in rows + bg]
    grads = [None if p.grad is None else p.grad.clone() for p in reg_learn.model.parameters()]
    reg_learn.model.train()
    try:
        flags = [m.training for m in reg_learn.model.modules()]
        st = rng_states()
        a = shapley_values(reg_learn.model, rows, bg, feats, exact=False, seed=7)
        exact_shapley(reg_learn.model, rows, bg, feats)
        assert same_rng(st, rng_states())
        fct.test_eq([m.training for m in reg_learn.model.modules()], flags)
    finally: reg_learn.model.eval()
    for x, b in zip(rows + bg, before): fct.test_eq(x, b)
    fct.test_eq(shapley_values(reg_learn.model, rows, bg, feats, exact=False, seed=7)['contributions'], a['contributions'])
    for p, g in zip(reg_learn.model.parameters(), grads):               # no backward pass
        assert (p.grad is None and g is None) or torch.equal(p.grad, g)


def test_bad_input(reg_learn):
    rows, bg, feats = _tensors(reg_learn, 4, 4)
    m = reg_learn.model
    with pytest.raises(ArgumentError, match='belong to no feature'): shapley_values(m, rows, bg, {'x0': feats['x0']})
    with pytest.raises(ArgumentError, match='in two features'): shapley_values(m, rows, bg, {**feats, 'again': feats['x0']})
    with pytest.raises(ArgumentError, match='does not exist'): shapley_values(m, rows, bg, {**feats, 'ghost': [(1, 9)]})
    with pytest.raises(DataError, match='background is empty'): shapley_values(m, rows, tuple(x[:0] for x in bg), feats)
    with pytest.raises(DataError, match='no rows'): shapley_values(m, tuple(x[:0] for x in rows), bg, feats)
    with pytest.raises(ArgumentError, match='n_samples must be a positive int'): shapley_values(m, rows, bg, feats, exact=False, n_samples=0)
    with pytest.raises(ArgumentError, match=r'target must be an output index in \[0, 1\)'): shapley_values(m, rows, bg, feats, target=1)
    with pytest.raises(ArgumentError, match='too many to enumerate'): exact_shapley(m, rows, bg, {f'f{i}': [] for i in range(17)})
    with pytest.raises(ArgumentError, match='features is empty'): shapley_values(m, rows, bg, {})
    with pytest.raises(ArgumentError, match='the background has 1'): shapley_values(m, rows, bg[:1], feats)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu(reg_learn):
    import copy
    rows, bg, feats = _tensors(reg_learn, 20, 20)
    cpu = shapley_values(reg_learn.model, rows, bg, feats, exact=False, seed=0)
    m = copy.deepcopy(reg_learn.model).cuda()
    gpu = shapley_values(m, tuple(x.cuda() for x in rows), tuple(x.cuda() for x in bg), feats, exact=False, seed=0)
    np.testing.assert_allclose(gpu['contributions'], cpu['contributions'], atol=1e-4)
    half = shapley_values(m, tuple(x.cuda() for x in rows), tuple(x.cuda() for x in bg), feats, exact=False, seed=0, amp=torch.float16)
    _additive(half)
    assert _rel(half['contributions'], cpu['contributions']) < 0.05


# ---------------------------------------------------------------- learn.explain uses it
def _wide_learner():
    "An untrained TabularLearner with 8 features (more than EXACT_MAX_FEATURES): explain samples by default"
    df = synth_df(400, seed=0)
    for k in range(3): df[f'extra{k}'] = np.random.default_rng(k).normal(size=len(df))
    from fastai.tabular.all import TabularDataLoaders, Categorify, FillMissing, Normalize
    dls = TabularDataLoaders.from_df(df, y_names='y', cat_names=['cat_a', 'noise_cat'],
                                     cont_names=['x0', 'x1', 'noise_cont', 'extra0', 'extra1', 'extra2'],
                                     procs=[Categorify, FillMissing, Normalize], valid_idx=list(range(300, 400)), bs=64)
    return tabular_learner(dls, layers=[16]), df


def test_explain_default_method_and_attrs(reg_learn):
    df = synth_df(6, seed=2)
    e = reg_learn.explain(df, seed=0)
    fct.test_eq({k: e.attrs[k] for k in ('method', 'exact', 'n_samples', 'n_background')},
                dict(method='shapley', exact=True, n_samples=None, n_background=50))
    s = reg_learn.explain(df, seed=0, exact=False)
    fct.test_eq((s.attrs['exact'], s.attrs['n_samples']), (False, 4))
    fct.test_eq(reg_learn.explain(df, seed=0, exact=False, n_samples=5).attrs['n_samples'], 5)
    key = ['row', 'feature']
    assert _rel(s.sort_values(key).contribution.to_numpy(), e.sort_values(key).contribution.to_numpy()) < 0.03
    fct.test_eq(e.attrs['categorical'], ['cat_a', 'noise_cat'])
    wide, wdf = _wide_learner()
    w = wide.explain(wdf.iloc[:3], seed=0)
    fct.test_eq((w.attrs['exact'], w.attrs['n_samples']), (False, 4))
    fct.test_eq(wide.explain(wdf.iloc[:3], seed=0, exact=True).attrs['exact'], True)


def test_explain_without_captum(reg_learn, monkeypatch):
    "The default explanation needs no captum; the captum methods say how to install it"
    df = synth_df(4, seed=3)
    with_captum = reg_learn.explain(df, seed=0, exact=False)
    monkeypatch.setitem(sys.modules, 'captum', None)
    monkeypatch.setitem(sys.modules, 'captum.attr', None)
    pd.testing.assert_frame_equal(reg_learn.explain(df, seed=0, exact=False), with_captum)
    reg_learn.explain(df.iloc[0], seed=0)
    for m in ('kernel_shap', 'shapley_exact', 'ablation', 'lime'):
        with pytest.raises(ImportError, match=r'Install it with: pip install "captum>=0.7"'):
            reg_learn.explain(df, method=m, seed=0)


def test_explain_exact_and_method_errors(reg_learn):
    r = synth_df(1, seed=0).iloc[0]
    with pytest.raises(ArgumentError, match="exact= is for method='shapley'"):
        reg_learn.explain(r, method='ablation', exact=True)
    with pytest.raises(ArgumentError, match='exact must be True, False or None'):
        reg_learn.explain(r, exact=1)
    with pytest.raises(ArgumentError, match='n_samples must be a positive int'):
        reg_learn.explain(r, n_samples=-2)
