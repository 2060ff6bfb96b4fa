"""fastinterp demo on the Ames housing data (the forum's House Prices case): train a TabularLearner while tracking
permutation importance, then ask which inputs it relies on (alone, given the others, and as a fair share of the
loss), how the price moves with some of them, what acts together, why one house got its price, and how the features
push the prices of 300 houses. Writes PNGs and CSVs to
`out/` (or the folder given as the first argument)."""
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
from fastinterp.inputs import raw_frame


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
    es = learn.eval_set()                       # the validation rows, read once for the analyses below
    t = time.time()
    with learn.no_bar(): fi = learn.feature_importance(es, n_repeats=5, seed=0)
    print(f"  ({fi.attrs['n_rows']} rows x {len(fi)} features x 5 repeats in {time.time()-t:.2f}s)")
    with pd.option_context('display.width', 120): print(fi.head(12).round(4).to_string(index=False))
    _save(plot_importance(fi, top_k=20, error='ci'), out/'ames_importance.png')

    size = ['Gr_Liv_Area', 'First_Flr_SF', 'Second_Flr_SF', 'TotRms_AbvGrd']
    with learn.no_bar(): fg = learn.feature_importance(es, groups={'living area': size}, n_repeats=5, seed=0)
    single = fi.set_index('feature').loc[size, 'importance']
    print(f"\n3. Correlated columns: one at a time the four living-area columns score "
          f"{', '.join(f'{v:.4f}' for v in single)}; permuted together {fg.set_index('feature').loc['living area', 'importance']:.4f}")
    with learn.no_bar(): fa = learn.feature_importance(es, groups='auto', n_repeats=3, seed=0)
    print("  groups='auto' (clusters of associated columns, permuted jointly), top 6:")
    print(fa.head(6).round(4).to_string(index=False))

    print("\n4. Given the others, and a fair share: conditional permutation importance and SAGE")
    t = time.time()
    with learn.no_bar(): fc = learn.feature_importance(es, conditional=True, n_repeats=5, seed=0, details=True)
    k = pd.Series(fc.attrs['subgroups'])
    print(f"  conditional: each column permuted only among houses alike in the other columns (subgroups: leaves of a small "
          f"tree per column, fitted on the training rows; median {int(k.median())} per column, {int((k==1).sum())} columns that "
          f"the others don't predict keep one) in {time.time()-t:.1f}s")
    print("  the subgroups of Gr_Liv_Area, for instance:")
    print(fc.subgroups[fc.subgroups.feature=='Gr_Liv_Area'][['rule', 'rows']].head(5).to_string(index=False))
    t = time.time()
    with learn.no_bar(): sv = learn.sage(es, seed=0)
    a = sv.attrs
    print(f"  SAGE on {a['n_rows']} rows in {time.time()-t:.1f}s (largest se {sv.se.max():.5f}); the values add up: "
          f"{sv.importance.sum():.4f} = MSE with no feature known {a['loss_none']:.4f} - with all {a['loss_all']:.4f}")
    tab = pd.DataFrame({'alone': fi.set_index('feature').importance, 'given the others': fc.frame.set_index('feature').importance,
                        'SAGE': sv.set_index('feature').importance}).sort_values('alone', ascending=False)
    print(tab.head(10).round(4).to_string())
    _save(plot_importance({'permutation (alone)': fi, 'conditional (given the others)': fc,
                           "grouped (groups='auto')": fa, 'SAGE (fair share)': sv}, top_k=12, error='ci'),
          out/'ames_importance_compare.png')
    print("  How to read it: a column that is important alone but not given the others carries information other columns\n"
          "  share (the living-area columns, the years); permuted together they matter, and SAGE splits their joint share\n"
          "  fairly between them. A column that stays important given the others tells the model something no other column does.")

    print("\n5. Partial dependence in raw units (average predicted log price), with each house's curve (ICE)")
    pd_year = learn.partial_dependence('Year_Built', dl=es, details=True, seed=0)
    print(pd_year.frame.round(3).to_string(index=False, max_rows=8))
    _save(plot_partial_dependence(pd_year), out/'ames_pd_year_built.png')
    _save(plot_partial_dependence(learn.partial_dependence('Neighborhood', dl=es, details=True, seed=0)), out/'ames_pd_neighborhood.png')
    _save(plot_partial_dependence(learn.ale('Gr_Liv_Area', dl=es, seed=0)), out/'ames_ale_living_area.png')

    print("\n6. What acts together: Friedman's H for the 8 most important features (200 rows)")
    t = time.time()
    with learn.no_bar(): h = learn.feature_interactions(dl=es, seed=0)
    print(f"  ({len(h)} pairs in {time.time()-t:.1f}s)")
    print(h.head(5).round(4).to_string(index=False))
    _save(plot_interactions(h), out/'ames_interactions.png')

    print("\n7. Why did one house get its price? (Shapley values relative to the mean prediction over 50 houses)")
    house = load_ames().iloc[learn.dls.valid.items.index[0]]
    with learn.no_bar(): ex = learn.explain(house.drop('log_price'), seed=0)
    print(f"  base value {ex.attrs['base_value']:.3f} + contributions {ex.contribution.sum():+.3f} = prediction "
          f"{ex.attrs['prediction']:.3f} (actual {house['log_price']:.3f})")
    print(ex.head(8).to_string(index=False))
    _save(plot_explanation(ex), out/'ames_explain_one_house.png')

    print("\n8. How the features push 300 houses' prices (a summary of 300 explanations)")
    rows = raw_frame(learn, es).iloc[:300]
    t = time.time()
    with learn.no_bar(): many = learn.explain(rows, seed=0)
    print(f"  (300 houses x {many.feature.nunique()} features in {time.time()-t:.1f}s)")
    print(explanation_summary(many).head(8).round(4).to_string(index=False))
    _save(plot_explanation_summary(many), out/'ames_explanation_summary.png')
    print(f"\nDone in {time.time()-t0:.1f}s.")
    return learn


if __name__ == '__main__':
    main(*sys.argv[1:2])
