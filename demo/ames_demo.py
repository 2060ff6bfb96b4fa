"""fastinterp demo on the Ames housing data (the forum's House Prices case): train a TabularLearner while tracking
permutation importance, then ask which inputs it relies on, how the price moves with two of them, and why one house
got its price. Writes PNGs and CSVs to `out/` (or the folder given as the first argument)."""
import sys, time
from pathlib import Path
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pandas as pd
sys.path.insert(0, str(Path(__file__).parent))
from ames import load_ames
from ames_tracker import run_tracker_demo, overhead_line
from fastinterp.all import *


def _save(ax_or_fig, path):
    fig = getattr(ax_or_fig, 'figure', ax_or_fig)
    fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)
    print(f"  wrote {path}")


def main(out_dir='out'):
    out = Path(out_dir); out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    print("1. Training a TabularLearner on Ames (log sale price) with an ImportanceTracker ...")
    tr = run_tracker_demo(out, epochs=8)
    learn = tr.learn
    mse, r = learn.recorder.values[-1][1:3]
    print(f"  {len(learn.dls.train_ds)} sales for training, {len(learn.dls.valid_ds)} held out: valid MSE {mse:.4f}, rmse {r:.4f}")
    print(f"  {overhead_line(tr)}")
    print(f"  wrote {out/'ames_importance_drift.png'} and the tracker's CSVs")

    print("\n2. Permutation importance: increase in validation MSE (log price) when a column is shuffled, 5 repeats")
    t = time.time()
    with learn.no_bar(): fi = learn.feature_importance(n_repeats=5, seed=0)
    print(f"  ({fi.attrs['n_rows']} rows x {len(fi)} features x 5 repeats in {time.time()-t:.2f}s)")
    with pd.option_context('display.width', 120): print(fi.head(15).round(4).to_string(index=False))
    _save(plot_importance(fi, top_k=20), out/'ames_importance.png')

    size = ['Gr_Liv_Area', 'First_Flr_SF', 'Second_Flr_SF', 'TotRms_AbvGrd']
    with learn.no_bar(): fg = learn.feature_importance(groups={'living area': size}, n_repeats=5, seed=0)
    single = fi.set_index('feature').loc[size, 'importance']
    print(f"\n3. Correlated columns: one at a time the four living-area columns score "
          f"{', '.join(f'{v:.4f}' for v in single)}; permuted together {fg.set_index('feature').loc['living area', 'importance']:.4f}")
    with learn.no_bar(): fa = learn.feature_importance(groups='auto', n_repeats=3, seed=0)
    print("  groups='auto' (clusters of associated columns, permuted jointly), top 8:")
    print(fa.head(8).round(4).to_string(index=False))

    print("\n4. Partial dependence in raw units (average predicted log price)")
    pd_year = learn.partial_dependence('Year_Built', ice=True, seed=0)
    print(pd_year.round(3).to_string(index=False, max_rows=8))
    _save(plot_partial_dependence(pd_year), out/'ames_pd_year_built.png')
    _save(plot_partial_dependence(learn.partial_dependence('Neighborhood', seed=0)), out/'ames_pd_neighborhood.png')

    print("\n5. Why did one house get its price? (captum Shapley value sampling, relative to the mean prediction)")
    house = load_ames().iloc[learn.dls.valid.items.index[0]]
    with learn.no_bar(): ex = learn.explain(house.drop('log_price'), seed=0)
    print(f"  base value {ex.attrs['base_value']:.3f} + contributions {ex.contribution.sum():+.3f} = prediction "
          f"{ex.attrs['prediction']:.3f} (actual {house['log_price']:.3f})")
    print(ex.head(8).to_string(index=False))
    _save(plot_explanation(ex), out/'ames_explain_one_house.png')
    print(f"\nDone in {time.time()-t0:.1f}s.")
    return learn


if __name__ == '__main__':
    main(*sys.argv[1:2])
