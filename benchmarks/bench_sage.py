"""Side-by-side speed of `learn.sage()` against sage-importance (Covert et al.'s own package) at equal error (issue 28).

    python benchmarks/bench_sage.py [--rows 300] [--background 32] [--quick]

On Ames (`demo/ames.py`: 37 features, layers 200-100, 8 epochs), `--rows` validation rows and `--background` background
rows sampled from the validation set; the same rows, background, players (features, FillMissing flags with their column),
model and loss (MSE of the predictions averaged over the background) for both:

- fastinterp: `sage_values` (what `learn.sage` runs) with its default 4 walks per row (two antithetic pairs), then
  `tol=` runs; the TabularModel shortcut on (the default) and off.
- sage-importance 0.0.6: `PermutationEstimator(GroupedMarginalImputer(f, background, groups), 'mse')`, `f` the model on
  the processed rows (numpy in, numpy out), batch_size 512, run until its convergence rule stops it with its largest
  standard error at or below fastinterp's default's largest se (`thresh` = that se over fastinterp's value range, the
  gap sage-importance divides by): **equal error**, measured, not extrapolated.
- A reference: fastinterp with 64 walks per row (stratified quartets). Printed per method: its largest reported se, its
  largest |error| against the reference, and the share of values within 1.96 reported se of it (calibration).

Printed: wall seconds and CPU seconds of the process (`time.process_time`), and the ratio sage-importance / fastinterp at
equal error. One torch thread (`torch.set_num_threads(1)`), as the tests run.
"""
from __future__ import annotations
import argparse, os, sys, time, warnings
from pathlib import Path
import numpy as np, pandas as pd, torch
warnings.filterwarnings('ignore')
torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'demo'))
from ames import ames_learner
from fastinterp.all import *
from fastinterp.engine import shortcuts
from fastinterp.explain_rows import background_rows
from fastinterp.inputs import Tabular
from fastinterp.sage import sage_values, SageLoss
import sage


def load(): return ' '.join(f'{x:.2f}' for x in os.getloadavg())

def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    r = fn()
    return r, time.perf_counter()-t0, time.process_time()-c0

def ours(learn, es, bg, **kw):
    return sage_values(learn.model, es.xs, es.ys, bg, es.features, SageLoss(learn.loss_func, es.ys), seed=kw.pop('seed', 0), **kw)

def reference_package(learn, es, bg, se_target, gap, seed=0):
    "sage-importance on the same game; stops once its largest std is at most `se_target`"
    n_cat = es.xs[0].shape[1]
    X = np.concatenate([es.xs[0].numpy().astype(np.float32), es.xs[1].numpy()], 1)
    B = np.concatenate([bg[0].numpy().astype(np.float32), bg[1].numpy()], 1)
    model = learn.model.eval()
    def f(x):
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
            return model(x[:, :n_cat].long(), x[:, n_cat:]).numpy()
    groups = [[c if i == 0 else n_cat+c for i, c in locs] for locs in es.features.values()]
    est = sage.PermutationEstimator(sage.GroupedMarginalImputer(f, B, groups), 'mse', random_state=seed)
    return est(X, es.ys[0].numpy(), batch_size=512, thresh=se_target/gap, bar=False)

def row(name, v, se, ref, wall, cpu, extra=''):
    err = np.abs(v-ref)
    cover = np.mean(err <= 1.96*se) if ref is not None else np.nan
    print(f"{name:<46} {wall:8.1f} {cpu:8.1f} {se.max():10.2e} {err.max():10.2e} {cover:7.0%}  {extra}")

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--rows', type=int, default=300); p.add_argument('--background', type=int, default=32)
    p.add_argument('--quick', action='store_true')
    a = p.parse_args()
    if a.quick: a.rows = 100
    learn = ames_learner()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(8, 1e-2)
    es = learn.eval_set(max_samples=a.rows, seed=0)
    bg, _ = background_rows(learn, Tabular(learn), None, a.background, 1)
    print(f"Ames: {len(es)} validation rows, {len(es.features)} players, {len(bg[0])} background rows; load {load()}")

    print("\nreference: fastinterp, 64 walks per row (stratified quartets) ...")
    refr, rw, rc = timed(lambda: ours(learn, es, bg, n_samples=64, seed=123))
    ref = refr['values']
    print(f"  {rw:.1f} s; largest se {refr['se'].max():.2e}; values {ref.min():.4f} .. {ref.max():.4f}; "
          f"sum {ref.sum():.5f} = loss_none - loss_all {refr['loss_none']-refr['loss_all']:.5f}")

    print(f"\n{'method':<46} {'wall s':>8} {'CPU s':>8} {'max se':>10} {'max|err|':>10} {'in 1.96se':>7}")
    d, dw, dc = timed(lambda: ours(learn, es, bg))
    row('fastinterp default (4 walks/row)', d['values'], d['se'], ref, dw, dc)
    with shortcuts(False): s, sw, sc = timed(lambda: ours(learn, es, bg))
    row('fastinterp default, shortcut off', s['values'], s['se'], ref, sw, sc)
    for tol in ([0.02] if a.quick else [0.02, 0.01, 0.005]):
        t, tw, tc = timed(lambda: ours(learn, es, bg, tol=tol))
        row(f'fastinterp tol={tol}', t['values'], t['se'], ref, tw, tc, f"walks/row {t['walks'].min()}-{t['walks'].max()}")
    target = d['se'].max()
    gap = d['values'].max()-d['values'].min()
    e, ew, ec = timed(lambda: reference_package(learn, es, bg, target, gap))
    order = list(es.features)
    row('sage-importance to the same largest se', np.asarray(e.values), np.asarray(e.std), ref, ew, ec)
    adj = (np.max(e.std)/target)**2      # sage-importance's time at exactly fastinterp's se, by the 1/N law of its sampling
    print(f"\nAt equal error (largest se: sage-importance {np.max(e.std):.2e}, fastinterp {target:.2e}; sage-importance stops on its "
          "own value range, so the two differ by a few %):")
    print(f"  sage-importance / fastinterp: {ew/dw:.1f}x wall, {ec/dc:.1f}x CPU as measured; "
          f"{ew*adj/dw:.1f}x wall, {ec*adj/dc:.1f}x CPU scaled to exactly equal se")
    print(f"  the two estimates: largest |difference| {np.abs(np.asarray(e.values)-d['values']).max():.2e}, "
          f"{np.mean(np.abs(np.asarray(e.values)-d['values']) <= 1.96*np.hypot(e.std, d['se'])):.0%} within 1.96 combined se")
    top = pd.DataFrame({'fastinterp': d['values'], 'se': d['se'], 'sage-importance': e.values, 'std': e.std, 'reference': ref},
                       index=order).sort_values('reference', ascending=False)
    print(top.head(8).to_string(float_format=lambda x: f'{x:.5f}'))
    print(f"\nload average at the end: {load()}")

if __name__ == '__main__': main()
