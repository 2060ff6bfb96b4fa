"""Side-by-side speed, accuracy and calibration of `learn.explain` for many rows (issues 12 and 21).

    python benchmarks/bench_explain.py [--rows 200] [--reps 3] [--acc_rows 60] [--seeds 3] [--before REV] [--quick]

1. Speed on Ames (`demo/ames.py`: 37 raw features, layers 200-100, 5 epochs; `--rows` validation rows decoded with
   `raw_frame`, 50 background rows):
   BEFORE: captum's `ShapleyValueSampling` with 25 permutations per row (what `explain` ran until it had its own
           estimator: `method=captum.attr.ShapleyValueSampling, n_samples=25`);
   AFTER:  the default (`method='shapley'`: 4 antithetic walks per (row, background row) pair, TabularModel shortcut),
           the same with the engine's shortcuts switched off (whole-model forwards), and `tol=0.01`.
   With `--before REV` (a git revision, e.g. the commit before issue 21), that revision's estimator is loaded beside
   this one (as the package `fastinterp_before`) and its default (4 walks per pair) timed alternately with this one's
   on the same processed rows, 16 runs each: "no slower than before", and the values compared bit for bit.
   Printed: rows/s (wall clock) and rows per CPU-second of the process (`time.process_time`; less sensitive to the
   other processes on a shared machine), the median over `--reps` runs (captum: one run), and the load average.
2. Accuracy and calibration against exact Shapley values on Ames restricted to 12 features without missing values
   (few enough to enumerate all 2^12 coalitions; one column per feature, so shap's explainers see the same players):
   the same 50 background rows for every method, `--acc_rows` rows, `--seeds` seeds. For fastinterp: the default,
   `n_samples` 8 to 64 (stratified quartets), `tol` from 0.01 down, and 16 and 32 walks drawn as antithetic pairs only
   (`stratified=False`, the ablation of the quartets, on `shapley_values` both ways). For shap: its Permutation
   explainer (antithetic permutations, the best of its model-agnostic explainers here) with an `Independent` masker on
   the same 50 background rows, calling the model directly on the processed rows, at several `max_evals`.
   Printed per method: mean absolute error / mean |phi|, rows per CPU-second, the share of values within 1.96
   standard errors of the exact value (fastinterp only: shap reports none), and the rows/s of each family at 1% error
   (log-log interpolation between the measured points), with the ratio to shap.
One torch thread (`torch.set_num_threads(1)`), as the tests run.
"""
from __future__ import annotations
import argparse, os, statistics, subprocess, sys, tempfile, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
warnings.filterwarnings('ignore')
torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'demo'))
from ames import ames_learner, ames_dls, load_ames, Y_NAME
from fastai.tabular.all import TabularDataLoaders, tabular_learner, Categorify, FillMissing, Normalize, RandomSplitter, rmse, set_seed
import captum.attr as ca
from fastinterp.all import *
from fastinterp.inputs import raw_frame, Tabular as TabularUnits
from fastinterp.inputs import tabular_features
from fastinterp.shapley import shapley_values

def load(): return ' '.join(f'{x:.2f}' for x in os.getloadavg())

def timed(fn, n):
    "fn(), rows/s wall, rows per CPU-second"
    t0,c0 = time.perf_counter(),time.process_time()
    r = fn()
    return r, n/(time.perf_counter()-t0), n/(time.process_time()-c0)

def fit(learn, epochs=5):
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2)
    return learn

AMES12_CATS = ['Neighborhood', 'MS_Zoning', 'Bldg_Type', 'Central_Air', 'Overall_Cond', 'Garage_Type']
AMES12_CONTS = ['Gr_Liv_Area', 'Year_Built', 'Total_Bsmt_SF', 'Lot_Area', 'Garage_Area', 'First_Flr_SF']   # no missing values

def ames12(seed=42):
    "Ames restricted to 12 features, one column each (no FillMissing flags), few enough to enumerate every coalition"
    df = load_ames()
    splits = RandomSplitter(0.2, seed=seed)(range(len(df)))
    dls = TabularDataLoaders.from_df(df, y_names=Y_NAME, cat_names=list(AMES12_CATS), cont_names=list(AMES12_CONTS),
                                     procs=[Categorify, FillMissing, Normalize], valid_idx=list(splits[1]), bs=64)
    set_seed(seed, reproducible=True)
    y = dls.train.dataset.ys.values
    return fit(tabular_learner(dls, layers=[200, 100], metrics=rmse, y_range=(float(y.min())-0.2, float(y.max())+0.2)))

def gap(e):
    g = e.groupby('row')
    return float((g.prediction.first() - g.base_value.first() - g.contribution.sum()).abs().max())

# ------------------------------------------------------------------ the default before and after, in one process
def before_after(rev:str, learn, rows, bg, reps:int=16):
    "CPU seconds of the default estimator (4 walks per pair) of revision `rev` and of this one, alternated on the same tensors"
    import importlib
    tmp = tempfile.mkdtemp()
    subprocess.run(f'git -C {ROOT} archive {rev} fastinterp | tar -x -C {tmp} && mv {tmp}/fastinterp {tmp}/fastinterp_before',
                   shell=True, check=True)
    sys.path.insert(0, tmp)
    old = importlib.import_module('fastinterp_before.shapley')     # its own package: relative imports, nothing patched
    sys.path.remove(tmp)
    u = TabularUnits(learn)
    xr,xb,tf = u.encode_rows(rows),u.encode_rows(bg),tabular_features(learn.dls.train)
    fns = {'before': lambda s: old.shapley_values(learn.model, xr, xb, tf, exact=False, seed=s, bs=4096),
           'after': lambda s: shapley_values(learn.model, xr, xb, tf, exact=False, seed=s, bs=4096)}
    same = all(np.array_equal(fns['before'](s)['contributions'], fns['after'](s)['contributions']) for s in range(2))
    got = {k: [] for k in fns}
    for r in range(reps):
        for k in (('before', 'after') if r%2==0 else ('after', 'before')):
            c = time.process_time(); fns[k](r); got[k].append(time.process_time()-c)
    return got, same

# ------------------------------------------------------------------ shap's Permutation explainer on the processed rows
def shap_runner(learn, rows, bg, features):
    "fn(max_evals, seed) -> contributions [rows, features] from shap's Permutation explainer, features in `features`' order"
    import shap
    u = TabularUnits(learn)
    xr,xb = u.encode_rows(rows),u.encode_rows(bg)
    nc = xr[0].shape[1]
    Xr,Xb = (np.concatenate([x[0].numpy(), x[1].numpy()], 1).astype(np.float64) for x in (xr, xb))
    model = learn.model.eval()
    def f(X):
        with torch.inference_mode():
            return model(torch.from_numpy(X[:, :nc]).long(), torch.from_numpy(X[:, nc:]).float())[:, 0].double().numpy()
    cols = list(learn.dls.cat_names) + list(learn.dls.cont_names)
    idx = [cols.index(c) for c in features]
    masker = shap.maskers.Independent(Xb, max_samples=len(Xb))
    def run(max_evals, seed):
        ex = shap.explainers.Permutation(f, masker, seed=seed)
        return ex(Xr, max_evals=max_evals, silent=True).values[:, idx]
    return run

def at_error(points, target=0.01):
    "rows/s at `target` error from [(error, rate)], log-log interpolation between the two nearest points (extrapolated: marked)"
    pts = sorted(points)
    for (e0,r0),(e1,r1) in zip(pts, pts[1:]):
        if e0<=target<=e1:
            w = (np.log(target)-np.log(e0))/(np.log(e1)-np.log(e0))
            return float(np.exp(np.log(r0)+w*(np.log(r1)-np.log(r0)))), ''
    (e0,r0),(e1,r1) = (pts[0],pts[1]) if target<pts[0][0] else (pts[-2],pts[-1])
    w = (np.log(target)-np.log(e0))/(np.log(e1)-np.log(e0))
    return float(np.exp(np.log(r0)+w*(np.log(r1)-np.log(r0)))), ' (extrapolated)'

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--rows', type=int, default=200)
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--acc_rows', type=int, default=60)
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--before', default=None, help='a git revision whose default explain is timed side by side')
    p.add_argument('--quick', action='store_true', help='20 rows, 1 rep, 10 accuracy rows, 1 seed, fewer budgets')
    a = p.parse_args()
    if a.quick: a.rows,a.reps,a.acc_rows,a.seeds = 20,1,10,1
    import shap
    print(f'torch {torch.__version__}, shap {shap.__version__}, {torch.get_num_threads()} thread, {os.cpu_count()} CPUs; '
          f'load average at start: {load()}')

    # ------------------------------------------------------------ 1. speed on Ames
    learn = fit(ames_learner())
    raw = raw_frame(learn)
    rows,bg = raw.iloc[:a.rows],raw.iloc[-50:]
    n = len(rows)
    print(f'\n== Speed: Ames, {len(learn.dls.cat_names)} cat + {len(learn.dls.cont_names)} cont columns '
          f'({len(raw.columns)} features), {n} validation rows, 50 background rows ==')
    def plain():
        with shortcuts(False): return learn.explain(rows, background=bg, seed=0)
    runs = {
        'BEFORE captum ShapleyValueSampling, 25 permutations/row': lambda: learn.explain(rows, background=bg, method=ca.ShapleyValueSampling, n_samples=25, seed=0),
        'AFTER  default (shapley, 4 walks/pair, shortcut)': lambda: learn.explain(rows, background=bg, seed=0),
        'AFTER  default, shortcuts(False): whole-model forwards': plain,
        'AFTER  tol=0.01': lambda: learn.explain(rows, background=bg, tol=0.01, seed=0),
    }
    res,walks = {k:[] for k in runs},None
    with learn.no_bar():
        for r in range(a.reps):
            for k,fn in runs.items():
                if k.startswith('BEFORE') and r>0: continue        # captum is slow: one run
                e,w,c = timed(fn, n); res[k].append((w, c, gap(e)))
                if 'tol' in k: walks = e.attrs['walks']
                print(f'  run {r}: {k}: {w:.1f} rows/s, {c:.1f} rows/CPU-s (load {load()})', flush=True)
    cap = statistics.median(c for _,c,_ in res[next(iter(runs))])
    print(f'\n{"method":58s} {"rows/s":>8s} {"rows/CPU-s":>11s} {"vs captum (CPU)":>16s} {"additivity gap":>15s}')
    for k,v in res.items():
        w,c = statistics.median(x[0] for x in v),statistics.median(x[1] for x in v)
        print(f'{k:58s} {w:8.1f} {c:11.1f} {c/cap:15.1f}x {max(x[2] for x in v):15.1e}')
    print(f'tol=0.01 used {walks["min"]}-{walks["max"]} walks per pair (mean {walks["mean"]:.1f}); load average after the speed runs: {load()}')

    if a.before:
        got,same = before_after(a.before, learn, rows, bg)
        print(f'\n== The default estimator (shapley_values, 4 walks/pair) of {a.before} and of this tree, alternated in one process, '
              f'{len(got["after"])} runs each, {n} rows ==')
        for k,v in got.items():
            print(f'  {k:6s}: CPU seconds median {statistics.median(v):.3f}, min {min(v):.3f} ({n/statistics.median(v):.1f} rows/CPU-s)')
        print(f'  after/before time: median {statistics.median(got["after"])/statistics.median(got["before"]):.3f}x, '
              f'min {min(got["after"])/min(got["before"]):.3f}x; the same contributions (bit for bit): {same}')

    # ------------------------------------------------------------ 2. accuracy and calibration vs exact, 12 features
    l12 = ames12()
    raw12 = raw_frame(l12)
    rows12,bg12 = raw12.iloc[:a.acc_rows],raw12.iloc[-50:]
    m = len(rows12)
    with l12.no_bar():
        ref,_,ce = timed(lambda: l12.explain(rows12, background=bg12, exact=True, seed=0, details=True), m)
    R,feats = ref.contributions,ref.features
    scale = float(np.abs(R).mean())
    print(f'\n== Accuracy vs exact Shapley values: Ames with 12 features, {m} rows, the same 50 background rows; '
          f'mean |phi| = {scale:.4f} (exact: {ce:.1f} rows/CPU-s) ==')
    meths = {'fastinterp default: 4 walks/pair': dict()}
    for P in ([8, 16] if a.quick else [8, 16, 32, 64]): meths[f'fastinterp {P} walks/pair (stratified quartets)'] = dict(n_samples=P)
    for t in ([0.01, 0.0025] if a.quick else [0.01, 0.005, 0.0025, 0.00125]): meths[f'fastinterp tol={t}'] = dict(tol=t)
    budgets = [500, 2000] if a.quick else [500, 1000, 2000, 4000, 8000]
    shap_run = shap_runner(l12, rows12, bg12, feats)
    shap_runner(l12, rows12.iloc[:2], bg12, feats)(budgets[0], 0)   # warm-up: shap's first call pays for its imports
    table = []
    def record(name, family, fn):
        rel,rate,cov,extra = [],[],[],[]
        for s in range(a.seeds):
            (C,se,x),_,c = timed(lambda: fn(s), m)
            rel.append(np.abs(C-R).mean()/scale); rate.append(c)
            if se is not None: cov.append(np.mean(np.abs(C-R)<=1.96*se))
            if x is not None: extra.append(x)
        row = dict(method=name, family=family, error=float(np.mean(rel)), rate=float(statistics.median(rate)),
                   coverage=float(np.mean(cov)) if cov else None, extra=extra[0] if extra else '')
        table.append(row)
        cv = '' if row['coverage'] is None else f"{100*row['coverage']:7.1f}%"
        by = ', '.join(f'{100*x:.2f}' for x in rel)
        print(f"{name:52s} {100*row['error']:7.2f}% ({by}) {row['rate']:10.1f} {cv:>9s} {row['extra']}", flush=True)
    print(f'{"method":52s} {"error":>8s} {"by seed":>18s} {"rows/CPU-s":>10s} {"within 1.96 se":>8s}')
    with l12.no_bar():
        for k,kw in meths.items():
            def fn(s, kw=kw):
                e = l12.explain(rows12, background=bg12, exact=False, seed=s, details=True, **kw)
                w = e.attrs['walks']
                return e.contributions, e.se, f'walks/pair {w["min"]}-{w["max"]}, mean {w["mean"]:.1f}' if 'tol' in kw else None
            record(k, 'tol' if 'tol' in kw else 'fastinterp', fn)
        for me in budgets:
            record(f'shap Permutation, max_evals={me}', 'shap', lambda s, me=me: (shap_run(me, s), None, None))
    # the quartets' ablation, on the engine function both ways
    u = TabularUnits(l12)
    xr,xb = u.encode_rows(rows12),u.encode_rows(bg12)
    tf = tabular_features(l12.dls.train)
    print(f'\n== Stratified quartets against antithetic pairs only, same walks, `shapley_values` on the processed rows ==')
    for P in ([16] if a.quick else [16, 32, 64]):
        for st in (True, False):
            record(f'{P} walks/pair, {"quartets" if st else "antithetic pairs only"}', 'quartets' if st else 'pairs',
                   lambda s, P=P, st=st: (lambda r: (r['contributions'], r['se'], None))(
                       shapley_values(l12.model, xr, xb, tf, n_samples=P, exact=False, seed=s, stratified=st)))

    print(f'\n== rows per CPU-second at 1% error (log-log interpolation between measured points) ==')
    at = {}
    for fam,label in (('fastinterp', 'fastinterp, fixed walks per pair'), ('tol', 'fastinterp, tol='), ('shap', 'shap Permutation')):
        pts = [(r['error'], r['rate']) for r in table if r['family']==fam or (fam=='fastinterp' and r['method'].startswith('fastinterp default'))]
        at[fam] = at_error(pts)
        print(f'  {label:36s} {at[fam][0]:8.1f} rows/CPU-s{at[fam][1]}')
    best = max(at['fastinterp'][0], at['tol'][0])
    print(f'  fastinterp (best of the two) / shap at 1% error: {best/at["shap"][0]:.1f}x')
    for fam,label in (('quartets', 'shapley_values, quartets'), ('pairs', 'shapley_values, antithetic pairs only')):
        r,x = at_error([(r['error'], r['rate']) for r in table if r['family']==fam])
        print(f'  {label:36s} {r:8.1f} rows/CPU-s{x} ({r/at["shap"][0]:.1f}x shap)')
    print(f'\nload average at the end: {load()}')

if __name__=='__main__': main()
