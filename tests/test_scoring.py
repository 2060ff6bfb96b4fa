"""What "worse" means. The direction of every fastai metric comes from a table (no guess, no warning), every
scikit-learn metric's from its name as scikit-learn's own scorers say; a metric fastinterp can't place is refused
(asking for `higher_is_better`), never guessed; a metric factory passed uncalled gets a hint. The learner's loss is
the loss as the learner computes it on a batch: weighted, ignore_index, label smoothing, focal, pos_weight, custom
(issue 25), and a metric that can't measure anything is refused or said aloud."""
import copy, warnings
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
import fastai.metrics as fm
from fastai.metrics import msle, RocAucBinary, accuracy
from fastinterp.all import *
from fastinterp.synth import synth_df, synth_learner
from fastinterp.scoring import metric_direction, make_scorer, score_name, LOWER_IS_BETTER, HIGHER_IS_BETTER
from helpers import SIGNAL

# fastai.metrics names that are helpers to build metrics, not metrics
NOT_METRICS = {'AccumMetric', 'skm_to_fastai', 'optim_metric', 'LossMetric', 'LossMetrics'}
LOWER = {'rmse', 'exp_rmspe', 'perplexity', 'error_rate', 'BrierScore', 'HammingLoss', 'BrierScoreMulti', 'HammingLossMulti',
         'mse', 'mae', 'msle', 'Perplexity'}
ARGS = {'FBeta': (1,), 'FBetaMulti': (1,)}


def _metric(name):
    "The metric `name` of fastai.metrics, called when it is a factory or a class"
    o = getattr(fm, name)
    return o(*ARGS.get(name, ())) if name[0].isupper() else o


@pytest.mark.parametrize('name', [n for n in fm.__all__ if n not in NOT_METRICS])
def test_every_fastai_metric_has_a_table_direction(name):
    m = _metric(name)
    with warnings.catch_warnings():
        warnings.simplefilter('error')   # a guess would warn
        hib = metric_direction(m)
    fct.test_eq(hib, name not in LOWER)
    assert score_name(m) in (HIGHER_IS_BETTER if hib else LOWER_IS_BETTER), score_name(m)


def test_loss_metric_is_lower_is_better():
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        fct.test_eq(metric_direction(fm.LossMetric('loss')), False)


@pytest.fixture(scope='module')
def pos_learn():
    "A regressor on synth_df with y + 10 > 0, so that msle (log(1 + y)) is defined on its targets and predictions"
    df = synth_df(2000)
    df['y'] = df['y'] + 10
    return synth_learner(df=df, y_range=(0, 25), lr=3e-2)


def test_msle_is_lower_is_better(pos_learn):
    fi = pos_learn.feature_importance(metric=msle, seed=0, n_repeats=2)
    fct.test_eq(fi.attrs['higher_is_better'], False)
    fct.test_eq(fi.attrs['score'], 'msle')
    fct.test_eq(fi.feature[0], 'x0')
    assert fi.importance[0] > 0
    fct.test_eq(set(fi.feature[:3]), SIGNAL)
    assert (fi.set_index('feature').importance[list(SIGNAL)] > 0).all()
    # the baseline is msle of the model's predictions on the validation set, as fastai computes it
    with pos_learn.no_bar(): preds, targs = pos_learn.get_preds()
    fct.test_close(fi.attrs['baseline'], float(msle(preds, targs)), eps=1e-6)


def test_higher_is_better_must_be_bool(reg_learn):
    for bad in ('no', 'False', 0, 1, 1.0):
        with pytest.raises(ArgumentError, match='higher_is_better must be True, False or None'):
            reg_learn.feature_importance(metric=fm.rmse, higher_is_better=bad)
    with pytest.raises(TypeError): reg_learn.feature_importance(metric=fm.rmse, higher_is_better='no')
    with pytest.raises(ArgumentError, match='a loss is lower-is-better'):
        reg_learn.feature_importance(higher_is_better=True)   # the learner's loss
    # an explicit answer overrides the table, and flips the sign
    a = reg_learn.feature_importance(metric=fm.rmse, seed=0, n_repeats=1)
    b = reg_learn.feature_importance(metric=fm.rmse, seed=0, n_repeats=1, higher_is_better=True)
    fct.test_close(a.set_index('feature').importance, -b.set_index('feature').importance[a.feature].to_numpy(), eps=1e-12)


def test_unknown_metric_is_refused(reg_learn):
    "A lambda has no name to look up: fastinterp asks for higher_is_better instead of guessing (a wrong guess inverts the ranking)"
    f = lambda p, t: ((p.view(-1) - t.view(-1))**2).mean()
    with pytest.raises(ArgumentError, match='Pass higher_is_better=True or False'):
        reg_learn.feature_importance(metric=f, seed=0, n_repeats=1)
    with warnings.catch_warnings():
        warnings.simplefilter('error')   # saying it is enough
        fi = reg_learn.feature_importance(metric=f, seed=0, n_repeats=1, higher_is_better=False)
    fct.test_eq(fi.feature[0], 'x0')
    assert fi.importance[0] > 0


def _sklearn_metrics():
    "(name, function) of every function in sklearn.metrics"
    import inspect, sklearn.metrics as skm
    return [(n, getattr(skm, n)) for n in skm.__all__ if inspect.isfunction(getattr(skm, n))]


def _scorer_directions() -> dict:
    "Ground truth from scikit-learn itself: its scorers know whether each metric is better high (sign +1) or low (-1)"
    from sklearn.metrics import get_scorer, get_scorer_names
    res = {}
    for n in get_scorer_names():
        sc = get_scorer(n)
        f = getattr(sc, '_score_func', None)
        if f is not None: res[f.__name__] = sc._sign > 0
    return res


def test_every_sklearn_metric_direction():
    "Every scikit-learn metric that has a scorer gets the scorer's direction; every other *_score/*_error/*_loss/*_deviance its name's"
    truth = _scorer_directions()
    assert {'d2_absolute_error_score', 'mean_absolute_error', 'neg_log_loss'} & set(truth) or len(truth) > 20
    assert truth.get('d2_absolute_error_score', True) and not truth.get('mean_absolute_error', False)
    checked = []
    for name, f in _sklearn_metrics():
        if name in truth: want = truth[name]
        elif name.endswith('_score'): want = name != 'davies_bouldin_score'   # documented: lower is better
        elif name.endswith(('_error', '_loss', '_deviance')): want = False
        else:
            try: metric_direction(f)   # curves, matrices, reports, distances: not metrics of (preds, targs)
            except ArgumentError: continue
            want = metric_direction(f)   # the few others it does place (auc, matthews_corrcoef) come from the table
            assert name in HIGHER_IS_BETTER | LOWER_IS_BETTER, name
        fct.test_eq(metric_direction(f), want)
        checked.append(name)
    assert len(checked) > 40 and 'd2_absolute_error_score' in checked


def test_d2_score_ranks_the_important_feature_first(reg_learn):
    "The issue's case: d2_absolute_error_score read as lower-is-better put x0 last"
    from sklearn.metrics import d2_absolute_error_score
    d2 = lambda p, t: d2_absolute_error_score(t.view(-1).numpy(), p.view(-1).numpy())
    d2.__name__ = 'd2_absolute_error_score'
    fi = reg_learn.feature_importance(metric=d2, seed=0, n_repeats=2)
    fct.test_eq(fi.attrs['higher_is_better'], True)
    fct.test_eq(fi.feature[0], 'x0')
    assert fi.importance[0] > 0.5


def test_classification_metric_on_a_regressor_is_refused(reg_learn):
    "accuracy of a regressor compares argmax(one output) = 0 with float targets: it can't change, so every importance was 0"
    with pytest.raises(ArgumentError, match='accuracy is a classification metric, but the targets are continuous'):
        reg_learn.feature_importance(metric=accuracy, n_repeats=1)


def test_metric_that_never_moves_is_said(reg_learn):
    "A metric that can't see any change gives 0 everywhere: said aloud, naming the fix"
    def constant_score(p, t): return 1.0
    with pytest.warns(UserWarning, match='every importance is exactly 0'):
        fi = reg_learn.feature_importance(metric=constant_score, n_repeats=2, seed=0)
    assert (fi.importance == 0).all()


def test_nan_metric_is_said(reg_learn):
    "A metric that is NaN on some shuffled rows: which features, and why, instead of numpy's 'Mean of empty slice'"
    base = float(reg_learn.feature_importance(metric=fm.mse, n_repeats=1, seed=0).attrs['baseline'])
    def capped_error(p, t):   # defined only near the model's own predictions, as msle is only above -1
        m = float(((p.view(-1) - t.view(-1))**2).mean())
        return m if m < 2*base else float('nan')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        fi = reg_learn.feature_importance(metric=capped_error, n_repeats=2, seed=0)
    msgs = [str(x.message) for x in w]
    assert not any('Mean of empty slice' in m for m in msgs), msgs
    ours = [m for m in msgs if 'NaN or infinite' in m]
    assert len(ours) == 1 and "'x0'" in ours[0] and 'metric=None' in ours[0]
    fct.test_eq(fi.set_index('feature').importance.isna()['x0'], True)
    assert fi.set_index('feature').importance[['noise_cont', 'noise_cat']].notna().all()


def test_uncalled_factory_gets_a_hint(clf_learn):
    with pytest.raises(ArgumentError, match=r'metric=RocAucBinary is a metric factory or class: call it, metric=RocAucBinary\(\)'):
        clf_learn.feature_importance(metric=RocAucBinary)
    with pytest.raises(ArgumentError, match=r'call it, metric=F1Score\(\)'):
        clf_learn.feature_importance(metric=fm.F1Score)
    with pytest.raises(ArgumentError, match='call it'):
        clf_learn.feature_importance(metric=fm.Perplexity)   # a Metric class
    fi = clf_learn.feature_importance(metric=RocAucBinary(), seed=0, n_repeats=1)
    fct.test_eq(fi.attrs['higher_is_better'], True)
    fct.test_eq(fi.feature[0], 'x0')
    assert fi.importance[0] > 0
    from sklearn.metrics import roc_auc_score
    with clf_learn.no_bar(): probs, targs = clf_learn.get_preds()
    fct.test_close(fi.attrs['baseline'], roc_auc_score(targs.numpy().ravel(), probs[:, 1].numpy()), eps=1e-6)


def test_make_scorer(reg_learn):
    s = make_scorer(reg_learn)
    assert s.per_row and not s.higher_is_better
    s = make_scorer(reg_learn, fm.rmse)
    assert not s.per_row and not s.higher_is_better
    with pytest.raises(ArgumentError, match='metric must be'): make_scorer(reg_learn, 'accuracy')


# --- the learner's own loss (issue 25) ----------------------------------------------------------------------------------
from fastai.losses import (CrossEntropyLossFlat, LabelSmoothingCrossEntropyFlat, FocalLossFlat, BCEWithLogitsLossFlat,
                           MSELossFlat, L1LossFlat)


class DoubledCE(torch.nn.Module):
    "A custom loss with a `reduction` argument whose batch value is the mean of its rows"
    def __init__(self, reduction='mean'): super().__init__(); self.reduction = reduction
    def forward(self, p, t):
        l = 2*torch.nn.functional.cross_entropy(p, t.view(-1).long(), reduction='none')
        return l.mean() if self.reduction == 'mean' else l


def squared_ce(p, t):
    "A custom loss with no per-row form at all: fastinterp scores it on the whole set"
    return torch.nn.functional.cross_entropy(p, t.view(-1).long())**2


W = torch.tensor([1., 5.])
CLF_LOSSES = {'plain': CrossEntropyLossFlat, 'weighted': lambda: CrossEntropyLossFlat(weight=W),
              'ignore_index': lambda: CrossEntropyLossFlat(ignore_index=1),
              'weighted_ignore_index': lambda: CrossEntropyLossFlat(weight=W, ignore_index=0),
              'label_smoothing': lambda: CrossEntropyLossFlat(label_smoothing=0.1),
              'label_smoothing_weighted': lambda: CrossEntropyLossFlat(label_smoothing=0.1, weight=W),
              'fastai_label_smoothing': LabelSmoothingCrossEntropyFlat,
              'fastai_label_smoothing_weighted': lambda: LabelSmoothingCrossEntropyFlat(weight=W),   # no per-row form
              'focal': FocalLossFlat, 'focal_weighted': lambda: FocalLossFlat(weight=W),
              'custom': DoubledCE, 'custom_no_rows': lambda: squared_ce}
ROWLESS = {'fastai_label_smoothing_weighted', 'custom_no_rows'}


def _with_loss(learn, loss_func):
    "A learner with `learn`'s data and a copy of its model, scored with `loss_func`"
    from fastai.learner import Learner
    return Learner(learn.dls, copy.deepcopy(learn.model), loss_func=loss_func)


def _one_batch(learn):
    "The validation set as one batch: fastai's validate then averages nothing across batches, and is the loss of the whole set"
    return learn.dls.valid.new(bs=len(learn.dls.valid.dataset), shuffle=False, drop_last=False)


def _validate(learn, dl):
    with learn.no_bar(), learn.no_logging(): return float(learn.validate(dl=dl)[0])


@pytest.mark.parametrize('kind', list(CLF_LOSSES))
def test_baseline_is_the_learners_loss_classifier(clf_learn, kind):
    "attrs['baseline'] equals learn.validate()'s loss, for every loss fastai accepts; per-row intervals where the loss has rows"
    learn = _with_loss(clf_learn, CLF_LOSSES[kind]())
    dl = _one_batch(learn)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        fi = learn.feature_importance(dl=dl, n_repeats=2, seed=0)
    # the same predictions through two float32 summation orders
    fct.test_close(fi.attrs['baseline'], _validate(learn, dl), eps=1e-5*max(1, abs(fi.attrs['baseline'])))
    said = [str(x.message) for x in w if "can't be computed row by row" in str(x.message) or 'no per-row form' in str(x.message)]
    fct.test_eq(len(said), int(kind in ROWLESS))
    fct.test_eq(fi['ci_low'].notna().all(), kind not in ROWLESS)
    fct.test_eq(fi.feature[0], 'x0')


def test_weighted_loss_rule(clf_learn):
    "The weighted loss is sum(w[y] * loss)/sum(w[y]) over the counted rows, not a mean of rows: the issue's 0.80 against 0.28"
    learn = _with_loss(clf_learn, CrossEntropyLossFlat(weight=W))
    dl = _one_batch(learn)
    fi = learn.feature_importance(dl=dl, n_repeats=1, seed=0)
    with learn.no_bar(): p, y = learn.get_preds(dl=dl, with_input=False)[:2]
    y = y.view(-1).long()
    ce = torch.nn.functional.cross_entropy(torch.log(p), y, reduction='none')   # get_preds gives probabilities
    w = W[y]
    fct.test_close(fi.attrs['baseline'], float((w*ce).sum()/w.sum()), eps=1e-5)
    assert abs(fi.attrs['baseline'] - float((w*ce).mean())) > 1e-2   # the old, wrong rule is far from it
    learn.loss_func = CrossEntropyLossFlat(ignore_index=0)
    fi = learn.feature_importance(dl=dl, n_repeats=1, seed=0)
    keep = y != 0
    fct.test_close(fi.attrs['baseline'], float(ce[keep].mean()), eps=1e-5)


def test_every_row_ignored_is_a_data_error(clf_learn):
    learn = _with_loss(clf_learn, CrossEntropyLossFlat(weight=torch.tensor([0., 0.])))
    with pytest.raises(DataError, match='weight 0 in the loss'): learn.feature_importance(n_repeats=1)


@pytest.mark.parametrize('kind', ['mse', 'l1', 'custom'])
def test_baseline_is_the_learners_loss_regressor(reg_learn, kind):
    learn = _with_loss(reg_learn, {'mse': MSELossFlat(), 'l1': L1LossFlat(), 'custom': lambda p, t: ((p - t)**2).mean()**0.5}[kind])
    dl = _one_batch(learn)
    fi = learn.feature_importance(dl=dl, n_repeats=1, seed=0)
    fct.test_close(fi.attrs['baseline'], _validate(learn, dl), eps=1e-5*max(1, abs(fi.attrs['baseline'])))


def test_bce_pos_weight_baseline():
    "A multi-label learner with BCEWithLogitsLossFlat(pos_weight=...): the baseline is fastai's validation loss"
    from fastai.tabular.all import tabular_learner, TabularDataLoaders, Categorify, Normalize, set_seed
    df = synth_df(600)
    df['a'] = (df['x0'] > 0).astype('float32'); df['b'] = (df['x1'] > 0.3).astype('float32')
    set_seed(0, reproducible=True)
    dls = TabularDataLoaders.from_df(df, y_names=['a', 'b'], cat_names=['cat_a'], cont_names=['x0', 'x1', 'noise_cont'],
                                     procs=[Categorify, Normalize], y_block=None, valid_idx=list(range(450, 600)), bs=64)
    learn = tabular_learner(dls, layers=[16], loss_func=BCEWithLogitsLossFlat(pos_weight=torch.tensor([3., 0.5])))
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-2)
    dl = _one_batch(learn)
    fi = learn.feature_importance(dl=dl, n_repeats=1, seed=0)
    fct.test_close(fi.attrs['baseline'], _validate(learn, dl), eps=1e-5)


def test_tracker_baseline_is_the_learners_weighted_loss(clf_learn):
    "The tracker scores with the same rule: its last epoch's baseline is validate() after the fit"
    from fastai.tabular.all import tabular_learner, accuracy
    learn = tabular_learner(clf_learn.dls, layers=[16], metrics=accuracy, loss_func=CrossEntropyLossFlat(weight=W))
    dl = _one_batch(learn)
    tr = ImportanceTracker(dl=dl, max_samples=None, budget=None, n_repeats=1)
    with learn.no_bar(), learn.no_logging(): learn.fit(2, 1e-2, cbs=tr)
    h = tr.history
    fct.test_close(float(h[h.epoch == 1].baseline.iloc[0]), _validate(learn, dl), eps=1e-5)


@pytest.mark.parametrize('shard', ['jobs', 'rows'])
def test_weighted_loss_both_shardings(clf_learn, shard):
    "Whichever way the work is split, the weighted loss is the same (rows: each block scaled by the whole set's weight)"
    learn = _with_loss(clf_learn, CrossEntropyLossFlat(weight=W))
    dl = _one_batch(learn)
    fi = learn.feature_importance(dl=dl, n_repeats=2, seed=0, shard=shard)
    fct.test_close(fi.attrs['baseline'], _validate(learn, dl), eps=1e-5)
