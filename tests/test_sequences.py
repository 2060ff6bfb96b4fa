"""Sequence learners `(N, C, T)` (tsai's, or a plain 1-d CNN in a `Learner`): channel and window importance, maps over
time (Grad-CAM on 1-d convolutions, occlusion, integrated gradients), the tracker, and bad input.

Ground truth: noisy series where class 1 carries a pulse in channel `b` (`pulse_series`); a right answer puts `b`
first, the pulse's window first (when it is always at the same steps), and the map's mass on the pulse."""
import numpy as np, pytest, torch
from fastai.learner import Learner
from fastai.metrics import accuracy
from fastai.losses import CrossEntropyLossFlat
from fastai.torch_core import set_seed
from fastinterp.all import *
from fastinterp.synth import pulse_series, series_dls, small_cnn1d, StandardizeSeries
from fastinterp.inputs import arrays_dl


def fit(data, epochs):
    x, y, _ = data
    set_seed(0, reproducible=True)
    learn = Learner(series_dls(x, y), small_cnn1d(), loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2)
    return learn


@pytest.fixture(scope='module')
def fixed():
    "The pulse always at steps 40-47 of channel b"
    data = pulse_series(400, at=40, seed=0)
    return data, fit(data, 6)


@pytest.fixture(scope='module')
def moving():
    "The pulse anywhere in channel b"
    data = pulse_series(400, seed=1)
    return data, fit(data, 8)


def in_out(m, mask):
    m = np.clip(m, 0, None)
    return m[mask].mean() / max(m[~mask].mean(), 1e-12)


@pytest.fixture(scope='module')
def standardized():
    """A learner whose DataLoaders standardise each series per channel in `after_batch` (as tsai's TSStandardize(by_sample=True)),
    trained on pulse series given offsets and scales the transform removes: raw series are not what the model eats"""
    x, y, masks = pulse_series(400, seed=1)
    x = x * np.float32(3) + np.float32(5) * np.arange(3, dtype=np.float32)[None, :, None]
    set_seed(0, reproducible=True)
    learn = Learner(series_dls(x, y, after_batch=[StandardizeSeries()]), small_cnn1d(), loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(6, 1e-2)
    vx = torch.stack([a for a, _ in learn.dls.valid.dataset]).numpy()       # the validation rows, raw, in order
    return learn, vx


def test_learnt(fixed, moving):
    "The models learnt the task (the known answers below assume it)"
    for _, learn in (fixed, moving):
        with learn.no_bar(): assert learn.validate()[1] >= 0.9


def test_channel_importance(moving):
    _, learn = moving
    fi = learn.feature_importance(names=['a', 'b', 'c'], n_repeats=3, seed=0)
    assert fi.feature[0] == 'b' and fi.importance[0] > 5*fi.importance[1:].abs().max(), fi


def test_window_importance(fixed):
    _, learn = fixed
    fi = learn.feature_importance(patch_size=8, n_repeats=3, seed=0, details=True)
    assert fi.frame.feature[0] == 't_40_48' and len(fi.frame) == 12, fi.frame
    assert fi.frame.attrs['patch_size'] == 8
    assert fi.features['t_40_48'] == [(0, (slice(None), slice(40, 48)))]


@pytest.mark.parametrize('method', ['gradcam', 'occlusion', 'integrated_gradients'])
def test_map_on_the_pulse(moving, method):
    (x, y, masks), learn = moving
    i1 = np.flatnonzero(y == 1)[:16]
    e = learn.explain(x[i1], method=method)
    assert e.map.shape == (16, 96) and e.frame.attrs['analysis'] == 'explain_series' and e.frame.attrs['length'] == 96
    assert np.mean([in_out(m, k) > 2 for m, k in zip(e.map, masks[i1])]) >= 0.9
    if method == 'gradcam': assert e.frame.attrs['layer'] == '4' and e.layer_map.shape == (16, 24)   # the last ConvLayer, 24 steps


def test_one_series_and_plot(moving):
    (x, y, masks), learn = moving
    i = int(np.flatnonzero(y == 1)[0])
    e = learn.explain(x[i])                                  # one (C, T) series
    assert e.map.shape == (96,) and e.input.shape == (3, 96)
    ax = plot_series_explanation(e, names=['a', 'b', 'c'])
    assert [t.get_text() for t in ax.get_yticklabels()] == ['a', 'b', 'c']


def test_tracker_on_sequences(moving):
    (x, y, _), learn = moving
    new = Learner(learn.dls, small_cnn1d(), loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    tw, tc = ImportanceTracker(patch_size=32, budget=None), ImportanceTracker(names=['a', 'b', 'c'], budget=None)
    with new.no_bar(), new.no_logging(): new.fit(2, 1e-2, cbs=[tw, tc])
    assert set(tw.history.feature) == {'t_0_32', 't_32_64', 't_64_96'} and sorted(tw.history.epoch.unique()) == [0, 1]
    assert tc.history[tc.history.epoch == 1].sort_values('rank').feature.iloc[0] == 'b'


def test_bad_input(fixed):
    _, learn = fixed
    with pytest.raises(ArgumentError, match='has 2 sides'): learn.feature_importance(patch_size=(4, 4))
    with pytest.raises(ArgumentError, match='larger than the inputs'): learn.feature_importance(patch_size=97)
    with pytest.raises(ArgumentError, match=r'one \(C,T\) series'): learn.explain(np.zeros(96, np.float32))
    with pytest.raises(ArgumentError, match='window=200 is larger than the inputs'): learn.explain(np.zeros((3, 96), np.float32), method='occlusion', window=200)


# ------------------------------------------------------------------ raw series go through the learner's transforms (issue 25)
@pytest.mark.parametrize('method', ['gradcam', 'occlusion'])
def test_raw_series_through_validation_transforms(standardized, method):
    """Arrays and tensors of series are raw items: `learn.explain(X)` gives what the validation DataLoader over the same rows
    gives (and the probabilities `get_preds` gives), not what feeding X to the model as it is gives"""
    learn, vx = standardized
    e_raw, e_t = learn.explain(vx, method=method), learn.explain(torch.tensor(vx), method=method)
    e_dl = learn.explain(learn.dls.valid, method=method)
    with learn.no_bar(): p = learn.get_preds(dl=learn.dls.valid)[0][:, 1].numpy()
    # the same rows through the same transform in batches of the same size; a tolerance in case a kernel rounds differently
    for e in (e_raw, e_t):
        np.testing.assert_allclose(e.map, e_dl.map, rtol=1e-5, atol=1e-6 * np.abs(e_dl.map).max())
        np.testing.assert_allclose(e.frame.probability, e_dl.frame.probability, atol=1e-6)
    np.testing.assert_allclose(e_raw.frame.probability, p, atol=1e-5)          # get_preds: batches of 32 here, of 64 there
    assert e_raw.frame.actual.isna().all() and not e_dl.frame.actual.isna().any()   # raw series come without labels
    direct = learn.explain((torch.tensor(vx),), method=method)               # a batch tuple: model input, fed as it is
    assert np.abs(direct.frame.probability - e_raw.frame.probability).max() > 0.3


def test_one_raw_series_and_feature_importance_see_the_same_input(standardized):
    "One (C,T) series is row i of the batch; explain(X) and feature_importance(X=, y=) read X through the same DataLoader"
    learn, vx = standardized
    e, e3 = learn.explain(vx[:5]), learn.explain(vx[3])
    np.testing.assert_allclose(e3.input, e.input[3], atol=1e-6)                 # a batch of 1 against a batch of 5: same transform
    np.testing.assert_allclose(e3.map, e.map[3], rtol=1e-5, atol=1e-6 * np.abs(e.map).max())
    y = np.array([int(b) for _, b in learn.dls.valid.dataset])[:5]
    es = learn.eval_set(arrays_dl(learn, vx[:5], y))
    np.testing.assert_allclose(e.input, es.xs[0].numpy(), atol=1e-6)
    np.testing.assert_allclose(e.input.std(-1, ddof=1), 1, atol=1e-4)           # standardised, as the model was trained
    e64 = learn.explain(vx[:5].astype(np.float64))                             # float64 arrays: cast to the model's float32 first
    np.testing.assert_allclose(e64.map, e.map, rtol=1e-5, atol=1e-6 * np.abs(e.map).max())
