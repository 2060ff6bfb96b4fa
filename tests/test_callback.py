"ImportanceTracker: a pure observer of training, its history and CSV log, and its interplay with fastai's callbacks."
import pickle, random, sys, types
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastai.callback.core import Callback, CancelFitException
from fastai.callback.tracker import EarlyStoppingCallback, SaveModelCallback
from fastai.learner import load_learner
from fastai.tabular.all import tabular_learner, tabular_config, rmse, set_seed
from fastinterp.callback import ImportanceTracker, HISTORY_COLUMNS, epoch_seed, importance_drift, plot_importance_history
from fastinterp.core import build_cache, make_scorer, private_generator
from fastinterp.importance import permutation_importance
from fastinterp.synth import synth_dls, synth_df

FEATURES = {'x0', 'x1', 'cat_a', 'noise_cont', 'noise_cat'}


def tiny(seed=0, n=800, path=None, dropout=False):
    "A small untrained TabularLearner on `synth_df` (with dropout if asked, so any use of the global RNG shows)"
    set_seed(seed, reproducible=True)
    kw = dict(config=tabular_config(ps=0.2, embed_p=0.1)) if dropout else {}
    learn = tabular_learner(synth_dls(n=n, seed=seed, bs=64), layers=[16, 8], metrics=rmse, **kw)
    if path is not None: learn.path = path
    return learn


def quiet_fit(learn, n_epoch=2, lr=1e-2, **kw):
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(n_epoch, lr, **kw)


def rng_states():
    return random.getstate(), np.random.get_state(), torch.get_rng_state()


def test_pure_observer():
    "Same seed, same weights, recorder values and global RNG states with or without the tracker"
    runs = []
    for cbs in ([], [ImportanceTracker(n_repeats=2, max_samples=100, show_top=2)]):
        learn = tiny(dropout=True)
        modes = [m.training for m in learn.model.modules()]
        quiet_fit(learn, 3, cbs=cbs)
        runs.append((learn, [list(v) for v in learn.recorder.values], rng_states(), modes))
    (a, va, ra, _), (b, vb, rb, _) = runs
    sa, sb = a.model.state_dict(), b.model.state_dict()
    fct.test_eq(list(sa), list(sb))
    for k in sa: assert torch.equal(sa[k], sb[k]), k
    fct.test_eq(va, vb)
    fct.test_eq(ra[0], rb[0]); fct.test_eq(ra[2], rb[2])
    fct.test_eq(ra[1][1], rb[1][1]); fct.test_eq(ra[1][2], rb[1][2])
    assert all(p.grad is None or torch.equal(p.grad, q.grad) for p, q in zip(a.model.parameters(), b.model.parameters()))
    fct.test_eq([m.training for m in a.model.modules()], [m.training for m in b.model.modules()])
    assert len(runs[1][0].cbs) == len(runs[0][0].cbs)   # `cbs=` removed it again


def test_no_global_rng_in_epoch():
    "The tracked-epoch work alone leaves every global RNG where it was, the model's modes as they were, and no grads"
    learn = tiny(n=600)
    quiet_fit(learn, 1)
    tr = ImportanceTracker(max_samples=200)
    learn.add_cb(tr)
    learn.n_epoch, learn.epoch = 1, 0
    tr.before_fit(); tr.before_epoch()
    learn.model.train()
    grads = [p.grad.clone() for p in learn.model.parameters()]
    before = rng_states()
    tr.after_epoch()
    after = rng_states()
    tr.after_fit()
    learn.remove_cb(tr)
    fct.test_eq(before[0], after[0]); fct.test_eq(before[1][1], after[1][1]); assert torch.equal(before[2], after[2])
    assert all(m.training for m in learn.model.modules())
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, learn.model.parameters()))
    fct.test_eq(len(tr.history), 5)


def test_history_values_and_reproducibility():
    learn = tiny(n=1500)
    tr = ImportanceTracker(n_repeats=2, max_samples=300, seed=3)
    quiet_fit(learn, 4, cbs=tr)
    h = tr.history
    fct.test_eq(list(h.columns), HISTORY_COLUMNS)
    fct.test_eq(len(h), 4 * 5)
    fct.test_eq(sorted(h.epoch.unique()), [0, 1, 2, 3])
    fct.test_eq(set(h.feature), FEATURES)
    for _, g in h.groupby('epoch'):
        fct.test_eq(sorted(g['rank']), [1, 2, 3, 4, 5])
        assert (np.diff(g.sort_values('rank').importance) <= 0).all()
    fct.test_eq(h.groupby('epoch').seed.first().tolist(), [epoch_seed(3, e) for e in range(4)])
    assert h.seed.nunique() == 4
    last = h[h.epoch == 3].set_index('feature')
    signal, noise = last.loc[['x0', 'x1', 'cat_a'], 'importance'], last.loc[['noise_cont', 'noise_cat'], 'importance']
    assert signal.min() > noise.abs().max() + 0.1, last
    assert (last['std'] >= 0).all() and (last.ci_low <= last.importance).all()
    fct.test_eq(h.attrs['n_rows'], 300); fct.test_eq(h.attrs['n_repeats'], 2)
    # the last epoch again, from the finished model, with the engine and the documented seeds
    cache = build_cache(learn, max_samples=300, generator=private_generator(3)[0])
    fi = permutation_importance(learn.model, cache, make_scorer(learn), n_repeats=2,
                                generator=torch.Generator().manual_seed(epoch_seed(3, 3)))
    fct.test_close(last.loc[fi.feature, 'importance'].to_numpy(), fi.importance.to_numpy(), eps=1e-6)
    fct.test_eq(set(tr.seconds), {0, 1, 2, 3})
    assert tr._cache is None and tr._features is None


def test_csv_equals_history_and_append(tmp_path):
    learn = tiny(path=tmp_path)
    tr = ImportanceTracker(fname='logs/imp.csv', max_samples=200)
    quiet_fit(learn, 2, cbs=tr)
    fct.test_eq(tr.csv_path, tmp_path / 'logs/imp.csv')
    pd.testing.assert_frame_equal(tr.read_log(), tr.history)
    quiet_fit(learn, 1, cbs=tr)                       # append=False: a fresh history and file per fit
    fct.test_eq(tr.history.epoch.tolist(), [0] * 5)
    pd.testing.assert_frame_equal(tr.read_log(), tr.history)
    tr2 = ImportanceTracker(fname='logs/imp.csv', max_samples=200, append=True)
    quiet_fit(learn, 2, cbs=tr2)                      # continues the file on disk
    fct.test_eq(tr2.history.groupby('fit').epoch.unique().map(list).to_dict(), {0: [0], 1: [1, 2]})
    pd.testing.assert_frame_equal(tr2.read_log(), tr2.history)
    (tmp_path / 'other.csv').write_text('a,b\n1,2\n')
    with pytest.raises(ValueError, match='not an ImportanceTracker log'):
        quiet_fit(learn, 1, cbs=ImportanceTracker(fname='other.csv', append=True))


def test_append_counts_untracked_epochs():
    "With `every=2` a fit stopped on an untracked epoch still moves the epoch count on for the next fit"
    learn = tiny(n=400)
    tr = ImportanceTracker(every=2, append=True, max_samples=100)
    quiet_fit(learn, 5, cbs=[tr, StopAfter(1)])
    fct.test_eq(tr.history.epoch.unique().tolist(), [0])
    quiet_fit(learn, 1, cbs=tr)
    fct.test_eq(tr.history.groupby('fit').epoch.unique().map(list).to_dict(), {0: [0], 1: [2]})


def test_fine_tune_append():
    learn = tiny()
    tr = ImportanceTracker(append=True, max_samples=200)
    with learn.no_bar(), learn.no_logging(): learn.fine_tune(2, 1e-2, cbs=tr)
    fct.test_eq(tr.history.groupby('fit').epoch.unique().map(list).to_dict(), {0: [0], 1: [1, 2]})


@pytest.mark.parametrize('every,n_epoch,tracked', [(1, 3, [0, 1, 2]), (2, 5, [0, 2, 4]), (3, 5, [0, 3, 4]), (10, 2, [0, 1])])
def test_every(every, n_epoch, tracked):
    learn = tiny(n=400)
    tr = ImportanceTracker(every=every, max_samples=100)
    quiet_fit(learn, n_epoch, cbs=tr)
    fct.test_eq(sorted(tr.history.epoch.unique()), tracked)


def test_start_epoch_skips_untrained_epochs():
    "`fit(start_epoch=...)` cancels the skipped epochs: they are not tracked"
    learn = tiny(n=400)
    tr = ImportanceTracker(max_samples=100)
    with learn.no_bar(), learn.no_logging(): learn.fit(3, 1e-2, cbs=tr, start_epoch=2)
    fct.test_eq(sorted(tr.history.epoch.unique()), [2])


class StopAfter(Callback):
    "Interrupts the fit: `CancelFitException` after epoch `epoch`, or a `KeyboardInterrupt` in its first batch"
    order = 90
    def __init__(self, epoch, keyboard=False): self.stop_epoch, self.keyboard = epoch, keyboard
    def after_epoch(self):
        if not self.keyboard and self.epoch == self.stop_epoch: raise CancelFitException()
    def before_batch(self):
        if self.keyboard and self.training and self.epoch == self.stop_epoch: raise KeyboardInterrupt()


def test_interrupted_fit(tmp_path):
    learn = tiny(path=tmp_path)
    tr = ImportanceTracker(fname='imp.csv', max_samples=200)
    quiet_fit(learn, 5, cbs=[tr, StopAfter(1)])
    fct.test_eq(sorted(tr.history.epoch.unique()), [0, 1])
    pd.testing.assert_frame_equal(tr.read_log(), tr.history)
    assert tr._cache is None                          # after_fit ran
    # KeyboardInterrupt: no after_fit, but what was computed is on disk and in memory, and export still pickles no data
    learn = tiny(path=tmp_path)
    tr = ImportanceTracker(fname='imp.csv', max_samples=200)
    learn.add_cb(tr)
    with pytest.raises(KeyboardInterrupt):
        quiet_fit(learn, 5, cbs=StopAfter(2, keyboard=True))
    fct.test_eq(sorted(tr.history.epoch.unique()), [0, 1])
    pd.testing.assert_frame_equal(tr.read_log(), tr.history)
    assert tr._cache is not None and '_cache' not in tr.__getstate__()
    learn.export(tmp_path / 'interrupted.pkl')
    assert load_learner(tmp_path / 'interrupted.pkl').importance_tracker._cache is None


def test_export_load_learner(tmp_path):
    learn = tiny(path=tmp_path)
    learn.add_cb(ImportanceTracker(max_samples=200, dl=learn.dls.valid))
    quiet_fit(learn, 2)
    tr = learn.importance_tracker
    fct.test_eq(len(tr.history), 2 * 5)
    state = tr.__getstate__()
    for k in ('_cache', '_scorer', '_features', 'eval_dl'): assert k not in state, k
    learn.export(tmp_path / 'export.pkl')
    size_with = (tmp_path / 'export.pkl').stat().st_size
    learn2 = load_learner(tmp_path / 'export.pkl')
    tr2 = learn2.importance_tracker
    assert tr2._cache is None and tr2.eval_dl is None and not tr2._active
    pd.testing.assert_frame_equal(tr2.history, tr.history)
    df = synth_df(20, seed=1)
    preds, _ = learn2.get_preds(dl=learn2.dls.test_dl(df))
    fct.test_eq(preds.shape, (20, 1))
    fct.test_eq(len(tr2.history), 10)                # get_preds leaves it idle
    learn.remove_cb(tr)
    learn.export(tmp_path / 'plain.pkl')
    assert size_with - (tmp_path / 'plain.pkl').stat().st_size < 20_000   # the history, no data


def test_idle_in_lr_find_validate_get_preds(tmp_path):
    learn = tiny(path=tmp_path)
    tr = ImportanceTracker(max_samples=100)
    learn.add_cb(tr)
    with learn.no_bar(), learn.no_logging(): learn.lr_find(num_it=8, show_plot=False)
    fct.test_eq(len(tr.history), 0)
    assert tr._cache is None
    quiet_fit(learn, 1)
    fct.test_eq(len(tr.history), 5)
    h = tr.history.copy()
    with learn.no_bar():
        learn.validate()
        learn.get_preds()
        for ev in ('before_fit', 'before_epoch', 'after_fit'): learn(ev)   # what `tta` sends (tabular data can't tta)
    pd.testing.assert_frame_equal(tr.history, h)
    assert tr._cache is None and tr.run


def test_early_stopping_and_save_model(tmp_path):
    learn = tiny(path=tmp_path)
    tr = ImportanceTracker(max_samples=200, fname='imp.csv')
    # min_delta so large that no epoch after the first improves: stops at epoch 1, which is still tracked
    cbs = [EarlyStoppingCallback(min_delta=100, patience=1), SaveModelCallback(fname='best'), tr]
    quiet_fit(learn, 5, cbs=cbs)
    fct.test_eq(len(learn.recorder.values), 2)
    fct.test_eq(sorted(tr.history.epoch.unique()), [0, 1])
    assert (tmp_path / 'models' / 'best.pth').exists()
    pd.testing.assert_frame_equal(tr.read_log(), tr.history)
    assert tr._cache is None


def test_drift_and_plots(tmp_path):
    learn = tiny(path=tmp_path)
    tr = ImportanceTracker(max_samples=200, fname='imp.csv', n_repeats=2)
    quiet_fit(learn, 3, cbs=tr)
    d = tr.drift()
    fct.test_eq(list(d.columns), ['feature', 'importance_first', 'importance_last', 'change', 'rank_first', 'rank_last',
                                  'rank_change', 'settled'])
    fct.test_eq(set(d.feature), FEATURES)
    assert d.attrs['first_epoch'] == 0 and d.attrs['last_epoch'] == 2 and d.attrs['settled'] in (0, 1, 2)
    fct.test_eq(tr.drift(sort='rank').rank_change.abs().tolist(), sorted(d.rank_change.abs(), reverse=True))
    pd.testing.assert_frame_equal(importance_drift(tr.read_log()), d)
    import matplotlib.figure
    fig = tr.plot(top_k=3)
    assert isinstance(fig, matplotlib.figure.Figure)
    fct.test_eq(len(fig.axes[0].get_lines()), 3 + 1)
    assert isinstance(plot_importance_history(tr.read_log(), band=None), matplotlib.figure.Figure)
    fig.savefig(tmp_path / 'drift.png')
    with pytest.raises(ValueError, match='no epoch has been tracked'): ImportanceTracker().plot()


def test_tensorboard_handoff(tmp_path):
    "A real TensorBoardCallback writing event files, read back with TensorBoard's EventAccumulator"
    pytest.importorskip('tensorboard')
    from fastai.callback.tensorboard import TensorBoardCallback
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    learn = tiny(path=tmp_path)
    tb = TensorBoardCallback(log_dir=tmp_path / 'tb', trace_model=False, log_preds=False)
    quiet_fit(learn, 2, cbs=[tb, ImportanceTracker(max_samples=200)])
    ea = EventAccumulator(str(tmp_path / 'tb')); ea.Reload()
    tags = set(ea.Tags()['scalars'])
    assert {f'importance/{f}' for f in FEATURES} <= tags, tags
    ev = ea.Scalars('importance/x0')
    fct.test_eq(len(ev), 2)
    fct.test_eq([e.step for e in ev], [e.step for e in ea.Scalars('valid_loss')])


def test_wandb_handoff_stand_in(monkeypatch):
    "W&B isn't installed: a stand-in `wandb` module and a callback named `WandbCallback` check the hand-off"
    logged = []
    monkeypatch.setitem(sys.modules, 'wandb', types.SimpleNamespace(log=lambda d, step=None: logged.append((d, step))))
    class WandbCallback(Callback):
        order = 51
        def before_fit(self): self._wandb_step = 0
        def after_batch(self):
            if self.training: self._wandb_step += 1
    learn = tiny(n=400)
    quiet_fit(learn, 2, cbs=[WandbCallback(), ImportanceTracker(max_samples=100)])
    fct.test_eq(len(logged), 2)
    fct.test_eq(set(logged[0][0]), {f'importance/{f}' for f in FEATURES})
    assert 0 < logged[0][1] < logged[1][1]


def test_show_top(capsys):
    learn = tiny(n=400)
    with learn.no_bar(): learn.fit(1, 1e-2, cbs=ImportanceTracker(show_top=2, max_samples=100))
    out = capsys.readouterr().out
    assert 'importance @ epoch 0 (MSELoss): x0' in out, out
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2, cbs=ImportanceTracker(show_top=2, max_samples=100))
    fct.test_eq(capsys.readouterr().out, '')


def test_errors():
    with pytest.raises(ValueError, match='every must be a positive int'): ImportanceTracker(every=0)
    with pytest.raises(ValueError, match='n_repeats must be a positive int'): ImportanceTracker(n_repeats=0)
    with pytest.raises(TypeError, match='max_samples must be an int'): ImportanceTracker(max_samples='all')
    with pytest.raises(TypeError, match='groups must be a dict'): ImportanceTracker(groups=['x0'])
    learn = tiny(n=400)
    with pytest.raises(KeyError, match="names unknown feature"):
        quiet_fit(learn, 1, cbs=ImportanceTracker(groups={'g': ['x0', 'nope']}))
    with pytest.warns(UserWarning, match='no validation rows'):
        quiet_fit(learn, 1, cbs=ImportanceTracker(dl=learn.dls.valid.new(learn.dls.valid.dataset.iloc[:0])))
