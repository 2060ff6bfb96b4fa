"""fastinterp demo on the Ames housing data (the forum's House Prices case): train a TabularLearner, then ask which
inputs it relies on. Writes PNGs to `out/` (or the folder given as the first argument)."""
import sys, time
from pathlib import Path
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pandas as pd
sys.path.insert(0, str(Path(__file__).parent))
from ames import ames_learner
from fastinterp.all import *


def main(out_dir='out'):
    out = Path(out_dir); out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    learn = ames_learner()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(8, 1e-2)
    print(f"Trained a TabularLearner on {len(learn.dls.train_ds)} sales ({len(learn.dls.valid_ds)} held out): "
          f"valid MSE {learn.recorder.values[-1][1]:.4f}, rmse {learn.recorder.values[-1][2]:.4f} (log price)\n")

    t = time.time()
    with learn.no_bar(): fi = learn.feature_importance(n_repeats=5, seed=0)
    print(f"Permutation importance (increase in validation MSE of log price; {fi.attrs['n_rows']} rows, "
          f"5 repeats, {time.time()-t:.2f}s):")
    with pd.option_context('display.width', 120, 'display.max_rows', 50): print(fi.round(4).to_string(index=False))
    ax = plot_importance(fi, top_k=20)
    ax.figure.tight_layout(); ax.figure.savefig(out/'ames_importance.png', dpi=110); plt.close(ax.figure)

    size = ['Gr_Liv_Area', 'First_Flr_SF', 'Second_Flr_SF', 'TotRms_AbvGrd']
    with learn.no_bar(): fg = learn.feature_importance(groups={'living area (4 cols)': size}, n_repeats=5, seed=0)
    single = fi.set_index('feature').loc[size, 'importance']
    print(f"\nCorrelated columns: permuted one at a time, the four living-area columns score "
          f"{', '.join(f'{v:.4f}' for v in single)}; permuted together: "
          f"{fg.set_index('feature').loc['living area (4 cols)', 'importance']:.4f}")
    print(f"\nWrote {out/'ames_importance.png'}. Total time {time.time()-t0:.1f}s.")
    return learn


if __name__ == '__main__':
    main(*sys.argv[1:2])
