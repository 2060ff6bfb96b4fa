"ImportanceTracker: a pure observer of training, its history and CSV log, its budget, its robustness, and its interplay with fastai's callbacks."
import os, shutil, signal, sys, types, warnings
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastai.callback.core import Callback, CancelFitException
from fastai.callback.progress import CSVLogger
from fastai.callback.tracker import EarlyStoppingCallback, SaveModelCallback
from fastai.learner import load_learner
from fastai.tabular.all import TabularDataLoaders, tabular_learner, Categorify, FillMissing, Normalize, set_seed
from fastinterp.all import *
from fastinterp.synth import synth_df
from helpers import FEATURES, tiny, quiet_fit, rng_states, same_rng, weights, same_weights, twin_dls


def tracker_warnings(w):
    return [str(x.message) for x in w if 'ImportanceTracker' in str(x.message)]


@pytest.mark.parametrize('budget, table', [(None, True), (0.05, True), (0.05, False)])
def test_pure_observer(budget, table):
    "Same seed, same weights, losses, metrics and global RNG states with or without the tracker; its own columns come after the metrics"
    runs = []
    for cbs in ([], [ImportanceTracker(n_repeats=2, max_samples=100, show_top=2, budget=budget, epoch_table=table)]):
        learn = tiny(dropout=True)
        quiet_fit(learn, 3, cbs=cbs)
        runs.append((learn, [list(v) for v in learn.recorder.values], rng_states()))
    (a, va, ra), (b, vb, rb) = runs
    assert same_weights(weights(a), weights(b))
    fct.test_eq(va, [v[:len(va[0])] for v in vb])          # fastai's own columns: the same values, at the same places
    fct.test_eq(len(vb[0]), len(va[0]) + (2 if table else 0))
    assert same_rng(ra, rb)
    assert all(p.grad is None or torch.equal(p.grad, q.grad) for p, q in zip(a.model.parameters(), b.model.parameters()))
    fct.test_eq([m.training for m in a.model.modules()], [m.training for m in b.model.modules()])
    assert len(b.cbs) == len(a.cbs)   # `cbs=` removed it again
    na, nb = list(a.recorder.metric_names), list(b.recorder.metric_names)
    fct.test_eq(nb, na[:-1] + (['top_feature', 'rank_corr'] if table else []) + na[-1:])   # its columns before `time`


def test_no_global_rng_in_epoch():
    "The tracked-epoch work alone leaves every global RNG where it was, the model's modes as they were, and no grads"
    learn = tiny(n=600)
    quiet_fit(learn, 1)
    tr = ImportanceTracker(max_samples=200, budget=None)
    learn.add_cb(tr)
    learn.n_epoch, learn.epoch = 1, 0
    tr.before_fit(); tr.before_epoch()
    learn.model.train()
    grads = [p.grad.clone() for p in learn.model.parameters()]
    before = rng_states()
    tr.after_validate()
    after = rng_states()
    tr.after_fit()
    learn.remove_cb(tr)
    assert same_rng(before, after)
    assert all(m.training for m in learn.model.modules())
    assert all(torch.equal(g, p.grad) for g, p in zip(grads, learn.model.parameters()))
    fct.test_eq(len(tr.history), 5)


def test_history_values_and_reproducibility():
    learn = tiny(n=1500)
    tr = ImportanceTracker(n_repeats=2, max_samples=300, seed=3, budget=None)
    quiet_fit(learn, 4, cbs=tr)
    h = tr.history
    fct.test_eq(list(h.columns), HISTORY_COLUMNS)
    fct.test_eq(len(h), 4 * 5)
    fct.test_eq(sorted(h.epoch.unique()), [0, 1, 2, 3])
    fct.test_eq(set(h.feature), FEATURES)
    fct.test_eq(h.fit.unique().tolist(), [0])
    for _, g in h.groupby('epoch'):
        fct.test_eq(sorted(g['rank']), [1, 2, 3, 4, 5])
        assert (np.diff(g.sort_values('rank').importance) <= 0).all()
    fct.test_eq(h.groupby('epoch').seed.first().tolist(), [epoch_seed(3, e) for e in range(4)])
    assert h.seed.nunique() == 4
    last = h[h.epoch == 3].set_index('feature')
    signal_, noise = last.loc[['x0', 'x1', 'cat_a'], 'importance'], last.loc[['noise_cont', 'noise_cat'], 'importance']
    assert signal_.min() > noise.abs().max() + 0.1, last
    fct.test_eq(h.n_rows.unique().tolist(), [300])
    fct.test_eq(h.attrs['n_repeats'], 2); fct.test_eq(h.attrs['seed'], 3); fct.test_eq(h.attrs['score'], 'MSELoss')
    # the last epoch again, from the finished model, with the public API and the documented seeds:
    # the rows are `seed`'s sample, the permutations `epoch_seed(seed, epoch)`'s
    es = learn.eval_set(max_samples=300, seed=3)
    fi = learn.feature_importance(es, n_repeats=2, seed=epoch_seed(3, 3))
    fct.test_close(last.loc[fi.feature, 'importance'].to_numpy(), fi.importance.to_numpy(), eps=1e-6)
    fct.test_close(last.loc[fi.feature, 'ci_low'].to_numpy(), fi.ci_low.to_numpy(), eps=1e-6)
    fct.test_close(last.baseline.iloc[0], fi.attrs['baseline'], eps=1e-6)
    fct.test_eq(set(tr.seconds), {0, 1, 2, 3})
    assert tr._work is None   # released after the fit


def test_csv_equals_history_and_one_history_across_fits(tmp_path):
    learn = tiny(path=tmp_path)
    tr = ImportanceTracker(fname='logs/imp.csv', max_samples=200, budget=None)
    quiet_fit(learn, 2, cbs=tr)
    fct.test_eq(tr.csv_path, tmp_path / 'logs/imp.csv')
    pd.testing.assert_frame_equal(tr.read_log(), tr.history, check_dtype=False)
    quiet_fit(learn, 1, cbs=tr)                       # append=True (default): one history, epochs numbered on
    fct.test_eq(tr.history.groupby('fit').epoch.unique().map(list).to_dict(), {0: [0, 1], 1: [2]})
    pd.testing.assert_frame_equal(tr.read_log(), tr.history, check_dtype=False)
    tr2 = ImportanceTracker(fname='logs/imp.csv', max_samples=200, budget=None)
    quiet_fit(learn, 2, cbs=tr2)                      # a new tracker continues the file on disk
    fct.test_eq(tr2.history.groupby('fit').epoch.unique().map(list).to_dict(), {0: [0, 1], 1: [2], 2: [3, 4]})
    pd.testing.assert_frame_equal(tr2.read_log(), tr2.history, check_dtype=False)
    tr3 = ImportanceTracker(fname='logs/imp.csv', max_samples=200, append=False, budget=None)
    for _ in range(2):
        quiet_fit(learn, 1, cbs=tr3)                  # append=False: a fresh history and file per fit
        fct.test_eq(tr3.history.epoch.tolist(), [0] * 5)
        pd.testing.assert_frame_equal(tr3.read_log(), tr3.history, check_dtype=False)
    (tmp_path / 'other.csv').write_text('a,b\n1,2\n')
    w0 = weights(learn)
    with pytest.raises(ArgumentError, match='not an ImportanceTracker log'):
        quiet_fit(learn, 1, cbs=ImportanceTracker(fname='other.csv'))
    assert same_weights(w0, weights(learn))
    fct.test_eq((tmp_path / 'other.csv').read_text(), 'a,b\n1,2\n')   # left alone


def test_reset(tmp_path):
    learn = tiny(path=tmp_path, n=400)
    tr = ImportanceTracker(fname='imp.csv', max_samples=100, budget=None)
    quiet_fit(learn, 2, cbs=tr)
    fct.test_eq(len(tr.history), 10)
    tr.reset()
    fct.test_eq(len(tr.history), 0)
    fct.test_eq(list(tr.history.columns), HISTORY_COLUMNS)
    fct.test_eq(len(tr.budget_log), 0)
    quiet_fit(learn, 1, cbs=tr)                       # starts afresh at fit 0, epoch 0, and rewrites the CSV
    fct.test_eq((tr.history.fit.unique().tolist(), tr.history.epoch.unique().tolist()), ([0], [0]))
    fct.test_eq(len(tr.read_log()), 5)
    pd.testing.assert_frame_equal(tr.read_log(), tr.history, check_dtype=False)


def test_append_counts_untracked_epochs():
    """With `every=2` a fit cancelled while epoch 2 trains: epoch 1 (not due) is not tracked at the end, since the
    weights moved on after it, and still moves the epoch count on for the next fit"""
    class CancelIn(Callback):
        order = 90
        def after_batch(self):
            if self.training and self.epoch == 2: raise CancelFitException()
    learn = tiny(n=400)
    tr = ImportanceTracker(every=2, max_samples=100, budget=None)
    quiet_fit(learn, 5, cbs=[tr, CancelIn()])
    fct.test_eq(tr.history.epoch.unique().tolist(), [0])
    quiet_fit(learn, 1, cbs=tr)
    fct.test_eq(tr.history.groupby('fit').epoch.unique().map(list).to_dict(), {0: [0], 1: [2]})


def test_fine_tune_one_history(tmp_path):
    "fine_tune is two fits: one history, epochs numbered on, the `fit` column tells them apart; the CSV holds both"
    learn = tiny(path=tmp_path)
    tr = ImportanceTracker(max_samples=200, budget=None, fname='ft.csv')
    with learn.no_bar(), learn.no_logging(): learn.fine_tune(2, 1e-2, freeze_epochs=1, cbs=tr)
    fct.test_eq(tr.history.groupby('fit').epoch.unique().map(list).to_dict(), {0: [0], 1: [1, 2]})
    fct.test_eq(tr.budget_log[['fit', 'epoch']].values.tolist(), [[0, 0], [1, 1], [1, 2]])
    pd.testing.assert_frame_equal(tr.read_log(), tr.history, check_dtype=False)


@pytest.mark.parametrize('every,n_epoch,tracked', [(1, 3, [0, 1, 2]), (2, 5, [0, 2, 4]), (3, 5, [0, 3, 4]), (10, 2, [0, 1])])
def test_every(every, n_epoch, tracked):
    learn = tiny(n=400)
    tr = ImportanceTracker(every=every, max_samples=100, budget=None)
    quiet_fit(learn, n_epoch, cbs=tr)
    fct.test_eq(sorted(tr.history.epoch.unique()), tracked)


def test_start_epoch_skips_untrained_epochs():
    "`fit(start_epoch=...)` cancels the skipped epochs: they are not tracked"
    learn = tiny(n=400)
    tr = ImportanceTracker(max_samples=100, budget=None)
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
    tr = ImportanceTracker(fname='imp.csv', max_samples=200, budget=None)
    quiet_fit(learn, 5, cbs=[tr, StopAfter(1)])
    fct.test_eq(sorted(tr.history.epoch.unique()), [0, 1])
    pd.testing.assert_frame_equal(tr.read_log(), tr.history, check_dtype=False)
    assert tr._work is None                             # after_fit ran
    # KeyboardInterrupt from code (not Ctrl-C): no after_fit, but what was computed is on disk and in memory,
    # and export still pickles no data
    learn = tiny(path=tmp_path)
    tr = ImportanceTracker(fname='imp2.csv', max_samples=200, budget=None)
    learn.add_cb(tr)
    with pytest.raises(KeyboardInterrupt):
        quiet_fit(learn, 5, cbs=StopAfter(2, keyboard=True))
    fct.test_eq(sorted(tr.history.epoch.unique()), [0, 1])
    pd.testing.assert_frame_equal(tr.read_log(), tr.history, check_dtype=False)
    assert tr._work is not None and '_work' not in tr.__getstate__()
    learn.export(tmp_path / 'interrupted.pkl')
    assert load_learner(tmp_path / 'interrupted.pkl').importance_tracker._work is None
    # the next fit continues the history and the CSV (nothing overwritten), from the epoch after the last finished one
    quiet_fit(learn, 2)
    fct.test_eq(tr.history.groupby('fit').epoch.unique().map(list).to_dict(), {0: [0, 1], 1: [2, 3]})
    log = tr.read_log()
    fct.test_eq(len(log), 4 * 5)
    pd.testing.assert_frame_equal(log, tr.history, check_dtype=False)
    assert tr._work is None
    learn.remove_cb(tr)


def test_sigint_releases_cached_rows():
    "Ctrl-C (a real SIGINT) mid-fit: the tracker's handler drops the cached rows, then the interrupt goes on as usual"
    class CtrlC(Callback):
        order = 90
        def after_batch(self):
            if self.training and self.epoch == 1 and self.iter == 2: os.kill(os.getpid(), signal.SIGINT)
    learn = tiny(n=600)
    tr = ImportanceTracker(max_samples=100, budget=None)
    prev = signal.getsignal(signal.SIGINT)
    seen = []
    class Peek(Callback):
        order = 80
        def before_batch(self):
            if self.epoch == 1 and self.iter == 0: seen.append(tr._work is not None and signal.getsignal(signal.SIGINT) is not prev)
    with pytest.raises(KeyboardInterrupt):
        quiet_fit(learn, 3, cbs=[tr, CtrlC(), Peek()])
    fct.test_eq(seen, [True])                         # the rows were cached and the handler installed during the fit
    assert tr._work is None
    assert signal.getsignal(signal.SIGINT) is prev    # the handler is restored
    fct.test_eq(tr.history.epoch.unique().tolist(), [0])


def test_export_load_learner(tmp_path):
    learn = tiny(path=tmp_path)
    learn.add_cb(ImportanceTracker(max_samples=200, dl=learn.dls.valid, budget=None))
    quiet_fit(learn, 2)
    tr = learn.importance_tracker
    fct.test_eq(len(tr.history), 2 * 5)
    state = tr.__getstate__()
    for k in ('_work', '_run', '_eval_dl', '_log'): assert k not in state, k
    learn.export(tmp_path / 'export.pkl')
    size_with = (tmp_path / 'export.pkl').stat().st_size
    learn2 = load_learner(tmp_path / 'export.pkl')
    tr2 = learn2.importance_tracker
    assert tr2._work is None and tr2.eval_dl is None and not tr2._active
    pd.testing.assert_frame_equal(tr2.history, tr.history)
    df = synth_df(20, seed=1)
    preds, _ = learn2.get_preds(dl=learn2.dls.test_dl(df))
    fct.test_eq(preds.shape, (20, 1))
    fct.test_eq(len(tr2.history), 10)                # get_preds leaves it idle
    # a loaded learner has no validation set: analyses say so, and take a DataFrame instead
    with pytest.raises(DataError, match='no validation data'): learn2.feature_importance()
    fct.test_eq(learn2.feature_importance(synth_df(100, seed=2), n_repeats=1, seed=0).attrs['n_rows'], 100)
    learn.remove_cb(tr)
    learn.export(tmp_path / 'plain.pkl')
    assert size_with - (tmp_path / 'plain.pkl').stat().st_size < 20_000   # the history, no data


def test_idle_in_lr_find_validate_get_preds(tmp_path):
    learn = tiny(path=tmp_path)
    tr = ImportanceTracker(max_samples=100, budget=None)
    learn.add_cb(tr)
    with learn.no_bar(), learn.no_logging(): learn.lr_find(num_it=8, show_plot=False)
    fct.test_eq(len(tr.history), 0)
    assert tr._work is None
    quiet_fit(learn, 1)
    fct.test_eq(len(tr.history), 5)
    h = tr.history.copy()
    with learn.no_bar():
        learn.validate()
        learn.get_preds()
        for ev in ('before_fit', 'before_epoch', 'after_fit'): learn(ev)   # what `tta` sends (tabular data can't tta)
    pd.testing.assert_frame_equal(tr.history, h)
    assert tr._work is None and tr.run
    learn.remove_cb(tr)


def test_early_stopping_and_save_model(tmp_path):
    learn = tiny(path=tmp_path)
    tr = ImportanceTracker(max_samples=200, fname='imp.csv', budget=None)
    # min_delta so large that no epoch after the first improves: stops at epoch 1, which is still tracked
    cbs = [EarlyStoppingCallback(min_delta=100, patience=1), SaveModelCallback(fname='best'), tr]
    quiet_fit(learn, 5, cbs=cbs)
    fct.test_eq(len(learn.recorder.values), 2)
    fct.test_eq(sorted(tr.history.epoch.unique()), [0, 1])
    assert (tmp_path / 'models' / 'best.pth').exists()
    pd.testing.assert_frame_equal(tr.read_log(), tr.history, check_dtype=False)
    assert tr._work is None


TOY = pd.DataFrame({'epoch': np.repeat([0, 1, 2, 3], 3), 'feature': list('abc') * 4,
                    'importance': [3, 2, 1, 3, 2.5, 1, 2, 3, 1, 2, 3.5, 1.], 'rank': [1, 2, 3, 1, 2, 3, 2, 1, 3, 2, 1, 3]})


def test_drift_known_answer():
    "b overtakes a at epoch 2 and the ranking stays so after it; c is last throughout"
    d = importance_drift(TOY)
    fct.test_eq(list(d.feature), ['b', 'a', 'c'])                # |change| 1.5, 1, 0
    d = d.set_index('feature')
    fct.test_eq(d['settled'].to_dict(), {'a': 2, 'b': 2, 'c': 0})
    fct.test_eq(importance_drift(TOY).attrs['settled'], 2)
    fct.test_close(d['change'].to_numpy(), [1.5, -1, 0], eps=1e-12)
    fct.test_eq(d['rank_change'].to_dict(), {'b': 1, 'a': -1, 'c': 0})
    late = TOY[TOY.epoch != 2].copy()                           # without epoch 2 the swap shows first at epoch 3
    fct.test_eq(importance_drift(late).attrs['settled'], 3)
    steady = TOY.copy(); steady['rank'] = [1, 2, 3] * 4
    fct.test_eq(importance_drift(steady).attrs['settled'], 0)
    with pytest.raises(ArgumentError, match="sort must be one of 'change', 'rank', 'gap'"): importance_drift(TOY, sort='x')


def test_drift_and_plots(tmp_path):
    learn = tiny(path=tmp_path)
    tr = ImportanceTracker(max_samples=200, fname='imp.csv', n_repeats=2, budget=None)
    quiet_fit(learn, 3, cbs=tr)
    d = tr.drift()
    fct.test_eq(list(d.columns), ['feature', 'importance_first', 'importance_last', 'change', 'rank_first', 'rank_last',
                                  'rank_change', 'settled'])
    fct.test_eq(set(d.feature), FEATURES)
    fct.test_eq((d.attrs['first_epoch'], d.attrs['last_epoch']), (0, 2))
    # the numbers are the history's, first and last epoch
    h = tr.history.set_index(['epoch', 'feature'])
    for f, row in d.set_index('feature').iterrows():
        fct.test_close(row.importance_first, h.loc[(0, f), 'importance'], eps=1e-12)
        fct.test_close(row.importance_last, h.loc[(2, f), 'importance'], eps=1e-12)
        fct.test_eq((row.rank_first, row.rank_last), (h.loc[(0, f), 'rank'], h.loc[(2, f), 'rank']))
    fct.test_eq(tr.drift(sort='rank').rank_change.abs().tolist(), sorted(d.rank_change.abs(), reverse=True))
    pd.testing.assert_frame_equal(importance_drift(tr.read_log()), d, check_dtype=False)
    import matplotlib.figure
    fig = tr.plot(top_k=3)
    assert isinstance(fig, matplotlib.figure.Figure)
    fct.test_eq(len(fig.axes[0].get_lines()), 3 + 1)
    fct.test_eq({l.get_label() for l in fig.axes[0].get_lines()[:3]}, set(h.xs(2).sort_values('rank').index[:3]))
    assert isinstance(plot_importance_history(tr.read_log(), band=None), matplotlib.figure.Figure)
    fig.savefig(tmp_path / 'drift.png')
    with pytest.raises(DataError, match='no epoch has been tracked'): ImportanceTracker().plot()
    with pytest.raises(ArgumentError, match='band must be'): tr.plot(band='sd')


def test_tensorboard_handoff(tmp_path):
    "A real TensorBoardCallback writing event files, read back with TensorBoard's EventAccumulator"
    pytest.importorskip('tensorboard')
    from fastai.callback.tensorboard import TensorBoardCallback
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    learn = tiny(path=tmp_path)
    tb = TensorBoardCallback(log_dir=tmp_path / 'tb', trace_model=False, log_preds=False)
    tr = ImportanceTracker(max_samples=200, budget=None)
    quiet_fit(learn, 2, cbs=[tb, tr])
    ea = EventAccumulator(str(tmp_path / 'tb')); ea.Reload()
    tags = set(ea.Tags()['scalars'])
    assert {f'importance/{f}' for f in FEATURES} <= tags, tags
    ev = ea.Scalars('importance/x0')
    fct.test_eq(len(ev), 2)
    fct.test_eq([e.step for e in ev], [e.step for e in ea.Scalars('valid_loss')])
    fct.test_close([e.value for e in ev], tr.history[tr.history.feature == 'x0'].importance.to_numpy(), eps=1e-5)


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
    quiet_fit(learn, 2, cbs=[WandbCallback(), ImportanceTracker(max_samples=100, budget=None)])
    fct.test_eq(len(logged), 2)
    fct.test_eq(set(logged[0][0]), {f'importance/{f}' for f in FEATURES})
    assert 0 < logged[0][1] < logged[1][1]


def test_show_top(capsys):
    learn = tiny(n=400)
    with learn.no_bar(): learn.fit(1, 1e-2, cbs=ImportanceTracker(show_top=2, max_samples=100, budget=None))
    out = capsys.readouterr().out
    assert 'importance @ epoch 0 (MSELoss): x0' in out, out
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2, cbs=ImportanceTracker(show_top=2, max_samples=100, budget=None))
    fct.test_eq(capsys.readouterr().out, '')


def test_errors():
    with pytest.raises(ArgumentError, match='every must be a positive int'): ImportanceTracker(every=0)
    with pytest.raises(ArgumentError, match='n_repeats must be a positive int'): ImportanceTracker(n_repeats=0)
    with pytest.raises(ArgumentError, match='max_samples must be None'): ImportanceTracker(max_samples='all')
    with pytest.raises(ArgumentError, match='budget must be a number in'): ImportanceTracker(budget=0)
    with pytest.raises(ArgumentError, match='budget must be a number in'): ImportanceTracker(budget=1.5)
    with pytest.raises(ArgumentError, match='seed must be None or an int'): ImportanceTracker(seed=2**64)
    with pytest.raises(ArgumentError, match='bs must be a positive int'): ImportanceTracker(bs='8')
    with pytest.raises(ArgumentError, match='append must be True or False'): ImportanceTracker(append='yes')
    with pytest.raises(ArgumentError, match=r"Unknown argument\(s\) \['n_repets'\]"): ImportanceTracker(n_repets=2)
    learn = tiny(n=400)
    w0 = weights(learn)
    # what can only be checked against the learner is checked when the fit starts, before anything trains
    with pytest.raises(ArgumentError, match="groups must be a dict"):
        quiet_fit(learn, 1, cbs=ImportanceTracker(groups=['x0']))
    with pytest.raises(ArgumentError, match="Unknown feature 'nope' in group 'g'"):
        quiet_fit(learn, 1, cbs=ImportanceTracker(groups={'g': ['x0', 'nope']}))
    with pytest.raises(ArgumentError, match='metric must be'):
        quiet_fit(learn, 1, cbs=ImportanceTracker(metric='rmse'))
    with pytest.raises(DataError, match='DataLoader is empty'):
        quiet_fit(learn, 1, cbs=ImportanceTracker(dl=learn.dls.valid.new(learn.dls.valid.dataset.iloc[:0])))
    assert same_weights(w0, weights(learn))


def test_empty_validation_set_warns_and_stays_idle():
    df = synth_df(300)
    dls = TabularDataLoaders.from_df(df, y_names='y', cat_names=['cat_a'], cont_names=['x0'], procs=[Categorify, Normalize],
                                     valid_idx=[], bs=64)
    learn = tabular_learner(dls, layers=[8])
    tr = ImportanceTracker()
    w0 = weights(learn)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-2, cbs=tr)
    msgs = tracker_warnings(w)
    fct.test_eq(len(msgs), 1)
    assert 'no validation data' in msgs[0] and 'stays idle' in msgs[0], msgs
    assert not same_weights(w0, weights(learn))      # training went on
    fct.test_eq(len(tr.history), 0)
    assert tr._work is None


# --- the CSV: checked before training, and a write failure never costs the run -------------------------------------
def _bad_paths(tmp_path):
    (tmp_path / 'afile').write_text('x')
    (tmp_path / 'adir').mkdir()
    return [('afile/imp.csv', "can't write its log"),              # its folder would be a file
            ('adir', 'is a folder'),                                # the name is a folder
            ('/proc/fastinterp_no_such_dir/imp.csv', "can't write its log")]   # a folder that can't be created


def test_bad_csv_paths_fail_before_training(tmp_path):
    learn = tiny(path=tmp_path, n=400)
    handler = signal.getsignal(signal.SIGINT)
    for fname, msg in _bad_paths(tmp_path):
        w0, opt = weights(learn), learn.opt
        tr = ImportanceTracker(fname=fname, max_samples=100)
        with pytest.raises(ArgumentError, match=msg):
            quiet_fit(learn, 2, cbs=tr)
        assert same_weights(w0, weights(learn)), fname   # not one step was taken
        fct.test_eq(len(tr.history), 0)
    fct.test_eq((tmp_path / 'afile').read_text(), 'x')
    assert signal.getsignal(signal.SIGINT) is handler


def test_refuses_csvlogger_file(tmp_path):
    learn = tiny(path=tmp_path, n=400)
    w0 = weights(learn)
    with pytest.raises(ArgumentError, match='is also written by CSVLogger'):
        quiet_fit(learn, 1, cbs=[CSVLogger(), ImportanceTracker(fname='history.csv')])
    assert same_weights(w0, weights(learn))
    quiet_fit(learn, 1, cbs=[CSVLogger(), ImportanceTracker(fname='importance.csv', budget=None)])   # another name is fine
    assert (tmp_path / 'history.csv').exists() and (tmp_path / 'importance.csv').exists()


def test_csv_write_failure_mid_fit(tmp_path):
    "The log's folder vanishes after epoch 0: one warning naming the file, the fit completes, the history is complete"
    class RemoveFolder(Callback):
        order = 60   # after the tracker has written epoch 0
        def after_epoch(self):
            if self.epoch == 0: shutil.rmtree(tmp_path / 'logs')
    learn = tiny(path=tmp_path, n=400)
    tr = ImportanceTracker(fname='logs/imp.csv', max_samples=100, budget=None)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        quiet_fit(learn, 3, cbs=[tr, RemoveFolder()])
    msgs = tracker_warnings(w)
    fct.test_eq(len(msgs), 1)
    assert str(tmp_path / 'logs' / 'imp.csv') in msgs[0], msgs
    assert all(issubclass(x.category, UserWarning) for x in w if 'ImportanceTracker' in str(x.message))
    fct.test_eq(len(learn.recorder.values), 3)       # the fit completed
    fct.test_eq(sorted(tr.history.epoch.unique()), [0, 1, 2])
    fct.test_eq(len(tr.history), 3 * 5)


# --- budget ------------------------------------------------------------------------------------------------------------
def test_budget_none_tracks_everything():
    learn = tiny(n=1000)
    tr = ImportanceTracker(budget=None, max_samples=None)
    quiet_fit(learn, 3, cbs=tr)
    bl = tr.budget_log
    fct.test_eq(list(bl.columns), ['fit', 'epoch', 'epoch_seconds', 'tracked', 'n_rows', 'tracker_seconds', 'reason'])
    fct.test_eq(bl.epoch.tolist(), [0, 1, 2])
    assert bl.tracked.all()
    n = len(learn.dls.valid.dataset)
    fct.test_eq(bl.n_rows.tolist(), [n] * 3)
    fct.test_eq(tr.history.groupby('epoch').n_rows.first().tolist(), [n] * 3)
    fct.test_eq(bl.reason.tolist(), [''] * 3)


def test_tiny_budget_skips_and_reduces_but_tracks_last_epoch():
    learn = tiny(n=2000)                              # 500 validation rows, more than the tracker's floor of 200
    n = len(learn.dls.valid.dataset)
    tr = ImportanceTracker(budget=1e-4, allowance=0.)
    quiet_fit(learn, 4, cbs=tr)
    bl = tr.budget_log
    fct.test_eq(bl.epoch.tolist(), [0, 1, 2, 3])    # every epoch is accounted for
    early = bl[bl.epoch < 3]
    # what the budget can't pay for is skipped or cut short, and the log says why
    assert ((~early.tracked) | (early.n_rows < n)).all(), bl
    assert early.reason.str.contains('budget').all(), bl
    last = bl.iloc[-1]
    assert last.tracked and 0 < last.n_rows < n, bl
    assert 'last epoch' in last.reason or 'budget' in last.reason, bl
    # the history holds exactly the tracked epochs, on the rows the log reports
    fct.test_eq(sorted(tr.history.epoch.unique()), bl.epoch[bl.tracked].tolist())
    fct.test_eq(tr.history.groupby('epoch').n_rows.first().tolist(), bl.n_rows[bl.tracked].tolist())


# --- data ----------------------------------------------------------------------------------------------------------------
def test_dataframe_as_dl_equals_test_dl():
    "Issue 9: `dl=` a raw DataFrame with the target means `learn.dls.test_dl(df, with_labels=True)`, for the tracker too"
    df = synth_df(300, seed=11)
    hs = []
    for as_frame in (True, False):
        learn = tiny(n=400)
        dl = df if as_frame else learn.dls.test_dl(df, with_labels=True)
        tr = ImportanceTracker(dl=dl, max_samples=None, budget=None)
        quiet_fit(learn, 2, cbs=tr)
        hs.append(tr.history)
    fct.test_eq(hs[0].n_rows.unique().tolist(), [300])
    pd.testing.assert_frame_equal(hs[0], hs[1])


def test_dataframe_without_target():
    "Data passed as dl= that can't be scored is an error raised when the fit starts, before any weight changes"
    learn = tiny(n=400)
    w0 = [p.detach().clone() for p in learn.model.parameters()]
    tr = ImportanceTracker(dl=synth_df(100, seed=1).drop(columns='y'), budget=None)
    with pytest.raises(DataError, match=r"lacks the target column\(s\) \['y'\]"): quiet_fit(learn, 1, cbs=tr)
    assert all(torch.equal(a, b) for a, b in zip(w0, learn.model.parameters()))
    fct.test_eq(len(tr.history), 0); fct.test_eq(tr._work, None)


def test_nan_targets_reported_before_training():
    """NaN targets in the tracker's data can be seen when the fit starts: they are reported then (a DataError, or a
    warning that the tracker stays idle), not after the first epoch has trained"""
    class FirstBatch(Callback):
        order = 0
        def before_batch(self):
            if self.training and self.iter == 0 and self.epoch == 0: at_first_batch.append(len(tracker_warnings(w)))
    at_first_batch = []
    df = synth_df(100, seed=1)
    df.loc[[1, 2], 'y'] = np.nan
    learn = tiny(n=400)
    w0 = weights(learn)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        try: quiet_fit(learn, 2, cbs=[ImportanceTracker(dl=df, budget=None), FirstBatch()])
        except DataError as e:
            assert 'NaN' in str(e)
            assert same_weights(w0, weights(learn))
            return
    msgs = tracker_warnings(w)
    assert msgs and 'NaN' in msgs[0], msgs
    assert at_first_batch and at_first_batch[0] >= 1, f'reported only after training started: {msgs}'


def test_groups_auto():
    "groups='auto' in the tracker: associated features are measured on the tracked rows and permuted together"
    dls = twin_dls(600, 200, 64)
    learn = tabular_learner(dls, layers=[16])
    tr = ImportanceTracker(groups='auto', budget=None)
    quiet_fit(learn, 2, cbs=tr)
    fct.test_eq(set(tr.history.feature), {'x0 & x0_twin', 'cat_a & cat_a_copy', 'x1', 'noise_cat', 'noise_cont'})
    fct.test_eq(len(tr.history), 2 * 5)
    fi = learn.feature_importance(groups='auto', n_repeats=1, seed=epoch_seed(0, 1), max_samples=2000)
    last = tr.history[tr.history.epoch == 1].set_index('feature')
    fct.test_close(last.loc[fi.feature, 'importance'].to_numpy(), fi.importance.to_numpy(), eps=1e-6)


def test_rows_released_when_removed_or_setup_fails(tmp_path):
    "The cached rows go when the tracker leaves its learner (after an interrupted fit), and when the fit fails to start"
    class Stop(Callback):
        def after_batch(self):
            if self.epoch == 1: raise KeyboardInterrupt
    learn = tiny(n=400)
    tr = ImportanceTracker(budget=None)
    learn.add_cb(tr)
    with pytest.raises(KeyboardInterrupt): quiet_fit(learn, 3, cbs=Stop())
    assert tr._work is not None                    # no callback runs after a KeyboardInterrupt raised in Python
    learn.remove_cb(tr)
    fct.test_eq(tr._work, None)
    (tmp_path/'file').write_text('x')
    tr2 = ImportanceTracker(fname=tmp_path/'file'/'log.csv', budget=None)
    with pytest.raises(ArgumentError): quiet_fit(learn, 1, cbs=tr2)
    fct.test_eq(tr2._work, None)


# --- issue 25: numbers you can trust -----------------------------------------------------------------------------------
@pytest.mark.parametrize('arg, value, instead', [('tol', 0.1, 'budget='), ('time_limit', 5, 'budget='),
                                                 ('details', True, 'history'), ('X', np.zeros((2, 2)), 'dl='),
                                                 ('feature_names', ['a'], 'names=')])
def test_refuses_feature_importance_only_arguments(arg, value, instead):
    "Arguments of feature_importance that mean nothing to the tracker are refused with what to pass instead, not ignored"
    with pytest.raises(ArgumentError, match=rf"ImportanceTracker doesn't take {arg}=: .*{instead}"):
        ImportanceTracker(**{arg: value})
    import inspect
    assert arg not in inspect.signature(ImportanceTracker).parameters


def test_table_keeps_its_columns_after_tracking_stops(tmp_path, monkeypatch):
    "Tracking fails from epoch 2: every row of `recorder.values` and of the CSVLogger file keeps the tracker's cells, empty"
    track = ImportanceTracker._track
    def failing(self, epoch, rows):
        if epoch >= 2: raise RuntimeError('no more')
        return track(self, epoch, rows)
    monkeypatch.setattr(ImportanceTracker, '_track', failing)
    learn = tiny(path=tmp_path, n=400)
    tr = ImportanceTracker(max_samples=100, budget=None)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        quiet_fit(learn, 4, cbs=[tr, CSVLogger()])
    assert any('stopped tracking this fit at epoch 2' in m for m in tracker_warnings(w)), tracker_warnings(w)
    names = list(learn.recorder.metric_names)
    fct.test_eq(names, ['epoch', 'train_loss', 'valid_loss', '_rmse', 'top_feature', 'rank_corr', 'time'])
    fct.test_eq([len(v) for v in learn.recorder.values], [len(names) - 2] * 4)   # values: no `epoch`, no `time`
    top = [float(v[names.index('top_feature') - 1]) for v in learn.recorder.values]
    assert not np.isnan(top[:2]).any() and np.isnan(top[2:]).all(), top
    log = pd.read_csv(tmp_path / 'history.csv', dtype=str, keep_default_na=False)
    fct.test_eq(list(log.columns), names)
    fct.test_eq(log.epoch.tolist(), ['0', '1', '2', '3'])
    fct.test_eq(log.top_feature.tolist()[2:], ['', ''])
    assert log.top_feature.str.match(r'^\S+ -?\d').tolist()[:2] == [True, True], log
    assert log.time.str.match(r'^\d\d:\d\d$').all(), log
    fct.test_eq(float(log.valid_loss.iloc[3]), float(learn.recorder.values[3][1]))
    # the epochs after the stop are counted: the next fit goes on from epoch 4, tracked again
    monkeypatch.undo()
    quiet_fit(learn, 1, cbs=tr)
    fct.test_eq(tr.history.groupby('fit').epoch.unique().map(list).to_dict(), {0: [0, 1], 1: [4]})


def test_dl_not_exported_is_said_not_replaced(tmp_path):
    "After load_learner a tracker given dl= warns and sits the fit out, instead of tracking the validation set into its history"
    rows = synth_df(300, seed=1)
    learn = tiny(path=tmp_path, n=1000)                       # 250 validation rows
    learn.add_cb(ImportanceTracker(dl=rows, budget=None))
    quiet_fit(learn, 1)
    learn.export(tmp_path / 'export.pkl')
    learn2 = load_learner(tmp_path / 'export.pkl')
    learn2.dls = learn.dls
    tr = learn2.importance_tracker
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        quiet_fit(learn2, 1)
    msgs = tracker_warnings(w)
    fct.test_eq(len(msgs), 1)
    assert 'was not exported' in msgs[0] and 'eval_dl = dl' in msgs[0], msgs
    fct.test_eq(tr.history.n_rows.unique().tolist(), [300])   # nothing from other rows
    fct.test_eq(tr.history.epoch.unique().tolist(), [0])
    tr.eval_dl = rows                                          # the data again: tracked on the same rows
    quiet_fit(learn2, 1)
    fct.test_eq(tr.history.groupby('epoch').n_rows.first().to_dict(), {0: 300, 1: 300})   # (a fit sat out isn't counted)
    tr.eval_dl = None                                          # the validation set, chosen
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        quiet_fit(learn2, 1)
    fct.test_eq(tr.history.groupby('epoch').n_rows.first().to_dict(), {0: 300, 1: 300, 2: 250})


def test_drift_with_missing_features():
    "`a` has no value at the last epoch and `c` none at epoch 1: NaN where there is no value, the rest as with every value"
    toy = TOY[~(((TOY.epoch == 3) & (TOY.feature == 'a')) | ((TOY.epoch == 1) & (TOY.feature == 'c')))]
    d = importance_drift(toy)
    fct.test_eq(list(d.feature), ['b', 'c', 'a'])              # |change| 1.5, 0, then the unknown
    d = d.set_index('feature')
    b = d.loc['b', ['importance_first', 'importance_last', 'change']].astype(float).to_numpy()
    fct.test_close(b, [2, 3.5, 1.5], eps=1e-12)                # the same values as without the gaps
    assert np.isnan(d.loc['a', 'importance_last']) and np.isnan(d.loc['a', 'change'])
    fct.test_eq(d.loc['a', 'importance_first'], 3.)
    assert pd.isna(d.loc['a', 'rank_last']) and pd.isna(d.loc['a', 'rank_change']) and pd.isna(d.loc['a', 'settled'])
    fct.test_eq((d.loc['b', 'settled'], d.loc['c', 'settled']), (2, 0))   # an epoch without a value doesn't break a run
    fct.test_eq(importance_drift(toy).attrs['settled'], 2)
    only = TOY[(TOY.epoch == 3) | (TOY.feature != 'c')].copy()           # `c` first seen at the last epoch
    fct.test_eq(importance_drift(only).set_index('feature').loc['c', 'settled'], 3)
    train = toy.assign(train_importance=toy.importance + 1.)
    assert pd.isna(importance_drift(train, sort='gap').set_index('feature').loc['a', 'gap'])
    plot_importance_history(toy)


def test_drift_of_a_log_whose_last_epoch_was_cut(tmp_path):
    "The library's own repair of a cut log leaves the last epoch with fewer features: the drift of what is left"
    learn = tiny(path=tmp_path, n=400)
    tr = ImportanceTracker(fname='imp.csv', max_samples=100, budget=None)
    quiet_fit(learn, 2, cbs=tr)
    log = tmp_path / 'imp.csv'
    lines = log.read_text().split('\n')                        # header, 2 x 5 rows, ''
    log.write_text('\n'.join(lines[:-4]) + '\n' + lines[-4][:10])   # a crash while epoch 1's rows were written
    with pytest.warns(UserWarning, match='was cut off'): back = tr.read_log()
    fct.test_eq(back.groupby('epoch').size().to_dict(), {0: 5, 1: 2})
    d = importance_drift(back).set_index('feature')
    h = tr.history.set_index(['epoch', 'feature'])
    for f in FEATURES:
        fct.test_close(d.loc[f, 'importance_first'], h.loc[(0, f), 'importance'], eps=1e-12)
        if f in set(back[back.epoch == 1].feature):             # the CSV's decimal text: equal to the last digits
            fct.test_close(d.loc[f, 'importance_last'], h.loc[(1, f), 'importance'], eps=1e-12)
        else: assert np.isnan(d.loc[f, 'importance_last'])
    plot_importance_history(back)


def test_one_tracker_on_other_features_is_refused():
    "One history, one set of features: a fit on other columns is refused before it trains; reset() starts anew"
    tr = ImportanceTracker(max_samples=100, budget=None)
    quiet_fit(tiny(n=400), 1, cbs=tr)
    other = tabular_learner(twin_dls(400, 100, 64), layers=[8])
    w0 = weights(other)
    with pytest.raises(ArgumentError, match=r"not those of the tracker's history.*tracker\.reset\(\).*append=False"):
        quiet_fit(other, 1, cbs=tr)
    assert same_weights(w0, weights(other))
    fct.test_eq(set(tr.history.feature), FEATURES)
    tr.reset()
    quiet_fit(other, 1, cbs=tr)
    fct.test_eq(len(set(tr.history.feature)), 7)


class Snapshot(Callback):
    "The weights at the end of each epoch, before EarlyStoppingCallback (63) can stop the fit"
    order = 56
    def after_epoch(self): self.weights = weights(self.learn)


def test_last_epoch_run_is_tracked_with_early_stopping_and_save_model(tmp_path):
    """A tiny budget skips epoch 1, where EarlyStoppingCallback stops: it is tracked when the fit ends, with its own
    weights (before SaveModelCallback reloads epoch 0's), on the tracked rows; its table cells stay empty"""
    learn = tiny(path=tmp_path, n=2000)
    tr = ImportanceTracker(budget=1e-4, allowance=0., max_samples=200, min_rows=200, seed=3, fname='imp.csv')
    snap = Snapshot()
    cbs = [EarlyStoppingCallback(min_delta=100, patience=1), SaveModelCallback(fname='best', min_delta=100), tr, snap]
    quiet_fit(learn, 5, cbs=cbs)
    fct.test_eq(len(learn.recorder.values), 2)               # stopped after epoch 1
    bl = tr.budget_log
    fct.test_eq(bl.epoch.tolist(), [0, 1]); assert bl.tracked.all(), bl
    assert 'tracked when the fit ended' in bl.reason.iloc[1], bl
    fct.test_eq(sorted(tr.history.epoch.unique()), [0, 1])
    fct.test_eq(tr.history.n_rows.unique().tolist(), [200])
    assert np.isnan(float(learn.recorder.values[1][3]))      # printed before it was tracked: empty
    pd.testing.assert_frame_equal(tr.read_log(), tr.history, check_dtype=False)
    assert not same_weights(snap.weights, weights(learn))    # SaveModelCallback reloaded epoch 0's weights
    learn.model.load_state_dict(snap.weights)
    fi = learn.feature_importance(learn.eval_set(max_samples=200, seed=3), n_repeats=1, seed=epoch_seed(3, 1))
    last = tr.history[tr.history.epoch == 1].set_index('feature')
    # the same rows, permutations and weights, scored in possibly other batch layouts: equal up to float rounding
    fct.test_close(last.loc[fi.feature, 'importance'].to_numpy(), fi.importance.to_numpy(), eps=1e-6)


def test_last_epoch_of_each_fit_in_fine_tune():
    "fine_tune is two fits, each stopped early on an epoch the budget skipped: the last epoch of each is in the history"
    learn = tiny(n=1000)
    tr = ImportanceTracker(budget=1e-4, allowance=0., max_samples=200, min_rows=200)
    with learn.no_bar(), learn.no_logging():
        learn.fine_tune(4, 1e-2, freeze_epochs=1, cbs=[tr, EarlyStoppingCallback(min_delta=100, patience=1)])
    bl = tr.budget_log
    fct.test_eq(bl.groupby('fit').epoch.max().to_dict(), {0: 0, 1: 2})   # epochs 1 and 2 ran in the second fit
    fct.test_eq(tr.history.groupby('fit').epoch.max().to_dict(), {0: 0, 1: 2})
    assert 'tracked when the fit ended' in bl.reason.iloc[-1], bl


def test_last_epoch_run_with_every():
    "every=2 and a fit cancelled after epoch 1: epoch 1, the last that ran, is tracked when the fit ends"
    learn = tiny(n=400)
    tr = ImportanceTracker(every=2, max_samples=100, budget=None)
    quiet_fit(learn, 5, cbs=[tr, StopAfter(1)])
    fct.test_eq(tr.history.epoch.unique().tolist(), [0, 1])
