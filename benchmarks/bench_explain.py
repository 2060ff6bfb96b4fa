"""Side-by-side speed and accuracy of `learn.explain` for many rows (issue 12).

    python benchmarks/bench_explain.py [--rows 200] [--reps 3] [--acc_rows 60] [--seeds 3] [--quick]

1. Speed on Ames (`demo/ames.py`: 37 raw features, layers 200-100, 5 epochs; `--rows` validation rows decoded with
   `raw_frame`, 50 background rows):
   BEFORE: captum's `ShapleyValueSampling` with 25 permutations per row (what `explain` ran until it had its own
           estimator: `method=captum.attr.ShapleyValueSampling, n_samples=25`);
   AFTER:  the default (`method='shapley'`: 4 antithetic walks per (row, background row) pair, TabularModel shortcut),
           and the same with the engine's shortcuts switched off (whole-model forwards).
   Printed: rows/s (wall clock) and rows per CPU-second of this process (`time.process_time`; less sensitive to the
   other processes on a shared machine), the median over `--reps` runs (captum: one run), and the load average.
2. Accuracy against exact Shapley values on Ames restricted to 8 features (few enough to enumerate all 2^8
   coalitions): the same 50 background rows for every method, `--acc_rows` rows, `--seeds` seeds. Printed: mean
   absolute error / mean |phi| and the max absolute error, for the default and for captum.
One torch thread (`torch.set_num_threads(1)`), as the tests run.
"""
from __future__ import annotations
import argparse, os, statistics, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
warnings.filterwarnings('ignore')
torch.set_num_threads(1)
sys.path.insert(0, str(Path(__file__).parents[1]/'demo'))
from ames import ames_learner, ames_dls, load_ames, Y_NAME
from fastai.tabular.all import TabularDataLoaders, tabular_learner, Categorify, FillMissing, Normalize, RandomSplitter, rmse, set_seed
import captum.attr as ca
from fastinterp.all import *
from fastinterp.units import raw_frame

def load(): return ' '.join(f'{x:.2f}' for x in os.getloadavg())

def timed(fn, n):
    "fn(), rows/s wall, rows per CPU-second"
    t0,c0 = time.perf_counter(),time.process_time()
    r = fn()
    return r, n/(time.perf_counter()-t0), n/(time.process_time()-c0)

def fit(learn, epochs=5):
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2)
    return learn

AMES8_CATS = ['Neighborhood', 'MS_Zoning', 'Bldg_Type', 'Central_Air']
AMES8_CONTS = ['Gr_Liv_Area', 'Year_Built', 'Total_Bsmt_SF', 'Lot_Frontage']   # Lot_Frontage carries Lot_Frontage_na

def ames8(seed=42):
    "Ames restricted to 8 features, few enough to enumerate every coalition"
    df = load_ames()
    splits = RandomSplitter(0.2, seed=seed)(range(len(df)))
    dls = TabularDataLoaders.from_df(df, y_names=Y_NAME, cat_names=list(AMES8_CATS), cont_names=list(AMES8_CONTS),
                                     procs=[Categorify, FillMissing, Normalize], valid_idx=list(splits[1]), bs=64)
    set_seed(seed, reproducible=True)
    y = dls.train.dataset.ys.values
    return fit(tabular_learner(dls, layers=[200, 100], metrics=rmse, y_range=(float(y.min())-0.2, float(y.max())+0.2)))

def matrix(e):
    "rows x features contribution matrix of a many-row explanation, features sorted by name"
    return e.pivot(index='row', columns='feature', values='contribution').sort_index(axis=1)

def gap(e):
    g = e.groupby('row')
    return float((g.prediction.first() - g.base_value.first() - g.contribution.sum()).abs().max())

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--rows', type=int, default=200)
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--acc_rows', type=int, default=60)
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--quick', action='store_true', help='20 rows, 1 rep, 10 accuracy rows, 1 seed')
    a = p.parse_args()
    if a.quick: a.rows,a.reps,a.acc_rows,a.seeds = 20,1,10,1
    print(f'torch {torch.__version__}, {torch.get_num_threads()} thread, {os.cpu_count()} CPUs; load average at start: {load()}')

    # ------------------------------------------------------------ 1. speed on Ames
    learn = fit(ames_learner())
    raw = raw_frame(learn)
    rows,bg = raw.iloc[:a.rows],raw.iloc[-50:]
    n = len(rows)
    print(f'\n== Speed: Ames, {len(learn.dls.cat_names)} cat + {len(learn.dls.cont_names)} cont columns '
          f'({len(raw.columns)} features), {n} validation rows, 50 background rows ==')
    runs = {
        'BEFORE captum ShapleyValueSampling, 25 permutations/row': lambda: learn.explain(rows, background=bg, method=ca.ShapleyValueSampling, n_samples=25, seed=0),
        'AFTER  default (shapley, 4 walks/pair, shortcut)': lambda: learn.explain(rows, background=bg, seed=0),
        'AFTER  default, shortcuts(False): whole-model forwards': None,
    }
    def plain():
        with shortcuts(False): return learn.explain(rows, background=bg, seed=0)
    runs['AFTER  default, shortcuts(False): whole-model forwards'] = plain
    res = {k:[] for k in runs}
    with learn.no_bar():
        for r in range(a.reps):
            for k,fn in runs.items():
                if k.startswith('BEFORE') and r>0: continue        # captum is slow: one run
                e,w,c = timed(fn, n); res[k].append((w, c, gap(e)))
                print(f'  run {r}: {k}: {w:.1f} rows/s, {c:.1f} rows/CPU-s (load {load()})', flush=True)
    cap = statistics.median(c for _,c,_ in res[next(iter(runs))])
    print(f'\n{"method":58s} {"rows/s":>8s} {"rows/CPU-s":>11s} {"vs captum (CPU)":>16s} {"additivity gap":>15s}')
    for k,v in res.items():
        w,c = statistics.median(x[0] for x in v),statistics.median(x[1] for x in v)
        print(f'{k:58s} {w:8.1f} {c:11.1f} {c/cap:15.1f}x {max(x[2] for x in v):15.1e}')
    print(f'load average after the speed runs: {load()}')

    # ------------------------------------------------------------ 2. accuracy vs exact, 8 features
    l8 = ames8()
    raw8 = raw_frame(l8)
    rows8,bg8 = raw8.iloc[:a.acc_rows],raw8.iloc[-50:]
    with l8.no_bar():
        ref,_,ce = timed(lambda: l8.explain(rows8, background=bg8, exact=True, seed=0), len(rows8))
        R = matrix(ref)
        scale = float(R.abs().to_numpy().mean())
        print(f'\n== Accuracy vs exact Shapley values: Ames with 8 features, {len(rows8)} rows, the same 50 background rows; '
              f'mean |phi| = {scale:.4f} (exact: {ce:.1f} rows/CPU-s) ==')
        meths = {'captum ShapleyValueSampling, 25 permutations/row': lambda s: l8.explain(rows8, background=bg8, method=ca.ShapleyValueSampling, n_samples=25, seed=s),
                 'default: shapley, 4 walks/pair': lambda s: l8.explain(rows8, background=bg8, seed=s),
                 'shapley, 8 walks/pair': lambda s: l8.explain(rows8, background=bg8, n_samples=8, seed=s)}
        print(f'{"method":52s} {"mean abs err / mean|phi|":>25s} {"max abs err":>12s} {"rows/CPU-s":>11s} {"additivity gap":>15s}')
        for k,fn in meths.items():
            rel,mx,rate,gp = [],[],[],[]
            for s in range(a.seeds):
                e,_,c = timed(lambda: fn(s), len(rows8))
                d = (matrix(e)-R).abs().to_numpy()
                rel.append(d.mean()/scale); mx.append(d.max()); rate.append(c); gp.append(gap(e))
            print(f'{k:52s} {100*np.mean(rel):16.2f}% ({", ".join(f"{100*x:.2f}" for x in rel)}) {max(mx):12.2e} '
                  f'{statistics.median(rate):11.1f} {max(gp):15.1e}')
    print(f'\nload average at the end: {load()}')

if __name__=='__main__': main()
