"""Issue 9: what "worse" means. The direction of every fastai metric comes from a table (no guess, no warning); a metric
fastinterp can't place is a guess said aloud; `higher_is_better` is a bool or None; a metric factory passed uncalled
gets a hint. (The old code guessed from the name, so `msle` counted as higher-is-better and every importance came
out negative, the signal features last.)"""
import warnings
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


def test_unknown_metric_warns(reg_learn):
    "A lambda has no name to look up: fastinterp guesses higher-is-better and says so, naming higher_is_better"
    f = lambda p, t: ((p.view(-1) - t.view(-1))**2).mean()
    with pytest.warns(UserWarning, match='higher_is_better'):
        fi = reg_learn.feature_importance(metric=f, seed=0, n_repeats=1)
    fct.test_eq(fi.attrs['higher_is_better'], True)
    with warnings.catch_warnings():
        warnings.simplefilter('error')   # saying it silences the guess
        fi = reg_learn.feature_importance(metric=f, seed=0, n_repeats=1, higher_is_better=False)
    fct.test_eq(fi.feature[0], 'x0')
    assert fi.importance[0] > 0


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
