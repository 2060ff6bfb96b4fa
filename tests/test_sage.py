"SAGE: known answers, additivity, the learner's own loss, rounds, bad input, and sage-importance as a reference."
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastai.losses import CrossEntropyLossFlat, FocalLossFlat
from fastai.tabular.all import tabular_learner, accuracy
from fastinterp.all import *
from fastinterp.sage import sage_values, SageLoss
from fastinterp.synth import synth_dls, twin_learner
from helpers import imp, quiet_fit, ticking_clock, cont_learner


def test_known_answer_additive_model(reg_learn):
    "y = 2 x0 + x1 + effect(cat_a) + noise, independent features: SAGE is each term's variance (4, 1, 1.5), noise ~0"
    sv = reg_learn.sage(seed=0)
    s = imp(sv)
    fct.test_close(s['x0'], 4, eps=0.6); fct.test_close(s['x1'], 1, eps=0.25); fct.test_close(s['cat_a'], 1.5, eps=0.3)
    assert s[['noise_cont', 'noise_cat']].abs().max() < 0.05
    # the values add up to the loss with no feature known minus the loss with all (the learner's own), to float rounding
    fct.test_close(sv.importance.sum(), sv.attrs['loss_none'] - sv.attrs['loss_all'], eps=1e-9 * sv.attrs['loss_none'])
    with reg_learn.no_bar(): fct.test_close(sv.attrs['loss_all'], reg_learn.validate()[0], eps=1e-4)
    assert (sv.ci_low < sv.importance).all() and (sv.importance < sv.ci_high).all()


def test_weighted_cross_entropy_is_the_learners_loss():
    "A classifier whose loss weights its classes: loss_all is its validation loss, and the values add up to loss_none - loss_all"
    learn = tabular_learner(synth_dls(kind='classification', n=800), layers=[16], metrics=accuracy,
                            loss_func=CrossEntropyLossFlat(weight=torch.tensor([1., 3.])))
    quiet_fit(learn, 2)
    dl = learn.dls.valid.new(bs=len(learn.dls.valid.dataset), shuffle=False, drop_last=False)   # validate: one batch, no averaging
    sv = learn.sage(dl, seed=1, n_background=32, background=None)
    with learn.no_bar(), learn.no_logging(): fct.test_close(sv.attrs['loss_all'], float(learn.validate(dl=dl)[0]), eps=1e-5)
    fct.test_close(sv.importance.sum(), sv.attrs['total'], eps=1e-9)
    fct.test_eq(sv.attrs['averaged'], 'probabilities')
    # with no feature known every row gets the background's mean probabilities: loss_none is their weighted cross-entropy
    from fastinterp.explain_rows import background_rows
    from fastinterp.inputs import Tabular
    from fastinterp.guard import derived_seed
    bg, _ = background_rows(learn, Tabular(learn), None, 32, derived_seed(1, 1))
    es = learn.eval_set(dl)
    with torch.no_grad(): p = torch.softmax(learn.model.eval()(*bg), 1).double().mean(0)
    y = es.ys[0].view(-1).long()
    w = torch.tensor([1., 3.], dtype=torch.float64)[y]
    fct.test_close(sv.attrs['loss_none'], float((w * -torch.log(p[y])).sum() / w.sum()), eps=1e-5)


def test_shortcut_and_plain_agree_and_seeds_repeat(reg_learn):
    from fastinterp.engine import shortcuts
    a = reg_learn.sage(seed=3, n_background=16, details=True)
    with shortcuts(False): b = reg_learn.sage(seed=3, n_background=16, details=True)
    # the same walks; the first layer as one matmul or as a sum of per-feature terms: float32 rounding apart
    np.testing.assert_allclose(a.row_values, b.row_values, rtol=0, atol=1e-4)
    pd.testing.assert_frame_equal(a.frame, reg_learn.sage(seed=3, n_background=16))
    c = reg_learn.sage(seed=4, n_background=16)
    assert not np.array_equal(c.importance, a.frame.importance)


def test_tol_time_limit_and_groups(reg_learn):
    t = reg_learn.sage(seed=0, tol=0.0003, details=True, max_samples=200)
    assert t.attrs['tol_met'] and (t.frame.se <= 0.0003 * t.frame.importance.abs().max()).all()
    assert t.walks.min() > 4 and t.walks.max() <= 1024
    with ticking_clock(0.3): tl = reg_learn.sage(seed=0, time_limit=0.8, details=True, max_samples=200)
    assert tl.attrs['rounds'] >= 2
    g = reg_learn.sage(seed=0, groups={'x': ['x0', 'x1']}, max_samples=200)
    fct.test_eq(set(g.feature), {'x', 'cat_a', 'noise_cont', 'noise_cat'})
    fct.test_close(g.importance.sum(), t.frame.importance.sum(), eps=1e-9)   # the same total however the players are grouped


def test_tensor_inputs():
    "A plain model on a 2-d float tensor: the plain path; only the first column matters"
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    from fastai.learner import Learner
    from fastai.losses import MSELossFlat
    torch.manual_seed(0)
    X = torch.randn(400, 3); Y = 3 * X[:, :1]
    ds = list(zip(X, Y))
    learn = Learner(DataLoaders(DataLoader(ds[:300], bs=50, shuffle=True), DataLoader(ds[300:], bs=50)),
                    torch.nn.Linear(3, 1), loss_func=MSELossFlat())
    with torch.no_grad(): learn.model.weight.copy_(torch.tensor([[3., 0., 0.]])); learn.model.bias.zero_()
    sv = learn.sage(seed=0, names=['signal', 'a', 'b'])
    s = imp(sv)
    fct.test_close(s['signal'], 9 * X[300:, 0].var().item(), eps=1.5)   # the model is y: its loss with all known is 0
    fct.test_close(s[['a', 'b']].to_numpy(), [0., 0.], eps=1e-9)
    fct.test_close(sv.attrs['loss_all'], 0., eps=1e-9)


def test_bad_input(reg_learn):
    with pytest.raises(ArgumentError, match='n_samples must be an even number'): reg_learn.sage(n_samples=5)
    with pytest.raises(ArgumentError, match='n_samples must be an int of at least 4'): reg_learn.sage(n_samples=2)
    with pytest.raises(ArgumentError, match="doesn't know how to average"): reg_learn.sage(loss_func=FocalLossFlat())
    with pytest.raises(ArgumentError, match='bandwidth must be a number'): reg_learn.sage(conditional=True, bandwidth=0)


def test_conditional_shares_between_twins():
    "Conditional imputation: twins share what they carry together about equally; the total stays loss_none - loss_all"
    twin = twin_learner()
    tc = twin.sage(seed=0, conditional=True, n_background=128, max_samples=300)
    c = imp(tc)
    fct.test_close(c['x0'], c['x0_twin'], eps=0.2 * c['x0'])
    fct.test_close(tc.importance.sum(), tc.attrs['total'], eps=1e-9)


# --- sage-importance: the same game, sampled its way -----------------------------------------------------------------
def _sage_reference(learn, es, bg, loss, thresh, seed=0):
    "sage-importance's PermutationEstimator on the same model, rows, background and loss; returns (values, std)"
    sage = pytest.importorskip('sage')
    n_cat = es.xs[0].shape[1]
    X = np.concatenate([es.xs[0].numpy().astype(np.float64), es.xs[1].numpy()], 1)
    B = np.concatenate([bg[0].numpy().astype(np.float64), bg[1].numpy()], 1)
    model, act = learn.model.eval(), (lambda o: torch.softmax(o, 1)) if loss == 'cross entropy' else (lambda o: o)
    def f(x):
        with torch.no_grad():
            x = torch.as_tensor(x)
            return act(model(x[:, :n_cat].long(), x[:, n_cat:].float())).numpy()
    y = es.ys[0].numpy().reshape(len(X), -1)
    y = y[:, 0].astype(np.int64) if loss == 'cross entropy' else y
    # one player per feature: sage-importance's grouped imputer, with each column in its feature's group
    cols = {name: [(c if i == 0 else n_cat + c) for i, c in locs] for name, locs in es.features.items()}
    imp_ = sage.GroupedMarginalImputer(f, B, list(cols.values()))
    est = sage.PermutationEstimator(imp_, loss, random_state=seed)
    from fastinterp.guard import preserved_rng
    with preserved_rng(): e = est(X, y, batch_size=256, thresh=thresh, bar=False)
    return list(cols), e.values, e.std


@pytest.mark.slow
@pytest.mark.parametrize('kind', ['regression', 'classification'])
def test_against_sage_importance(kind, reg_learn, clf_learn):
    "Same model, rows, background and loss: every value within the two estimates' errors (and ours several times more precise)"
    learn = reg_learn if kind == 'regression' else clf_learn
    es = learn.eval_set(max_samples=200, seed=0)
    from fastinterp.explain_rows import background_rows
    from fastinterp.inputs import Tabular
    bg, _ = background_rows(learn, Tabular(learn), None, 32, 5)
    names, ref, ref_se = _sage_reference(learn, es, bg, 'mse' if kind == 'regression' else 'cross entropy', thresh=0.02)
    sv = sage_values(learn.model, es.xs, es.ys, bg, es.features, SageLoss(learn.loss_func, es.ys), seed=0)
    ours = dict(zip(sv['features'], zip(sv['values'], sv['se'])))
    v, s = np.array([ours[n][0] for n in names]), np.array([ours[n][1] for n in names])
    print(pd.DataFrame({'ours': v, 'ours_se': s, 'sage': ref, 'sage_se': ref_se}, index=names).round(5))
    assert (np.abs(v - ref) <= 1.96 * np.hypot(s, ref_se) + 1e-9).all()
    assert s.max() < ref_se.max()
