"""Overhead of `ImportanceTracker` with its defaults, measured side by side in one run.

Each case fits the same learner (same seed, same data) for `--epochs` epochs of `fit_one_cycle`, alternately without
and with a tracker, `--rounds` times, and reports the median fit time of each and their ratio, plus what the tracker
did (epochs tracked, rows per tracked epoch, from `budget_log`).

Cases:
- `ames`: the demo's TabularLearner on Ames (37 columns, 2344 training and 586 validation rows; ~0.5 s epochs on
  one core): with the defaults every epoch is tracked on all its rows (each costs well under the 0.5 s allowance);
  target: the fit at most 20% longer;
- `large`: fastinterp's synthetic table with 60,000 rows (48,000 training, 12,000 validation; the tracker scores its
  default 2,000), epochs of a few seconds: every epoch tracked on all its rows, target at most 5%.

    python benchmarks/bench_tracker.py [--epochs 10] [--rounds 3] [--threads 1] [--cases ames,large]
"""
import argparse, statistics, sys, time, warnings
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parent.parent/'demo'))
warnings.filterwarnings('ignore')


def ames_case(seed):
    from ames import ames_learner
    return ames_learner(seed=seed)

def large_case(seed):
    from fastai.tabular.all import tabular_learner, rmse, set_seed
    from fastinterp.synth import synth_dls
    set_seed(seed, reproducible=True)
    return tabular_learner(synth_dls(n=60_000, seed=seed, bs=256, valid_pct=0.2), layers=[200, 100], metrics=rmse)

CASES = {'ames': ames_case, 'large': large_case}


def fit_seconds(make, epochs, tracker=None, seed=42):
    learn = make(seed)
    cbs = [] if tracker is None else [tracker]
    with learn.no_bar(), learn.no_logging():
        start = time.perf_counter()
        learn.fit_one_cycle(epochs, 1e-2, cbs=cbs)
        return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--cases', default='ames,large')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    from fastinterp.callback import ImportanceTracker
    import os
    print(f"torch {torch.__version__}, {a.threads} thread(s), load average {os.getloadavg()}")
    for name in a.cases.split(','):
        make = CASES[name]
        fit_seconds(make, 1)                      # warm up (imports, allocator)
        plain,tracked,tr = [],[],None
        for r in range(a.rounds):
            plain.append(fit_seconds(make, a.epochs))
            tr = ImportanceTracker()
            tracked.append(fit_seconds(make, a.epochs, tr))
        p,t = statistics.median(plain),statistics.median(tracked)
        bl = tr.budget_log
        print(f"\n{name}: {a.epochs} epochs x {a.rounds} rounds; median fit {p:.2f}s without, {t:.2f}s with the tracker: "
              f"overhead {100*(t/p-1):+.1f}% (ratio {t/p:.3f})")
        print(f"  runs without: {', '.join(f'{x:.2f}' for x in plain)}; with: {', '.join(f'{x:.2f}' for x in tracked)}")
        print(f"  last run: {int(bl.tracked.sum())} of {len(bl)} epochs tracked, rows per tracked epoch "
              f"{sorted(set(bl.n_rows[bl.tracked]))}, tracker {bl.tracker_seconds.sum():.3f}s = "
              f"{100*bl.tracker_seconds.sum()/bl.epoch_seconds.sum():.1f}% of the epochs' {bl.epoch_seconds.sum():.2f}s")


if __name__ == '__main__': main()
