"""The cost of `ImportanceTracker` with its defaults, as a share of the rest of the fit, side by side with a previous revision.

Method: every event the tracker handles (`before_fit`, with its setup, `before_epoch`, `after_validate`, `after_epoch`,
`after_cancel_epoch`, `after_fit`) is wrapped in a timer, in its own process, and the tracker's share is its time over
the rest of the fit's time (wall and CPU seconds; CPU seconds are the steadier figure on a shared machine, since another
process's load stretches wall time but not this process's CPU time). Each round runs this checkout's code and the
`--vs` revision's (its `fastinterp/` extracted with `git archive` into a temporary folder), alternately, in fresh
processes with one torch thread, on the same data and seeds; the report gives the median share of each and their ratio.

Cases:
- `ames`: the demo's TabularLearner on Ames (2344 training and 586 validation rows, 37 columns; epochs of about an
  eighth of a second on one core): every epoch is tracked on all 586 rows; target: at most 12% of the rest of the fit;
- `large`: fastinterp's synthetic table with 80,000 rows (64,000 training, 16,000 validation; the tracker scores its
  default 2,000), epochs of a few seconds; target: at most its share at the previous revision (3.6% then).

    python benchmarks/bench_tracker.py [--epochs 10] [--rounds 3] [--cases ames,large] [--vs ad2d9b8]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time, warnings
from pathlib import Path

root = Path(__file__).resolve().parent.parent
EVENTS = ('before_fit', 'before_epoch', 'after_validate', 'after_epoch', 'after_cancel_epoch', 'after_fit')


def timed_tracker():
    "An `ImportanceTracker` (defaults) whose event methods add their wall and CPU seconds to `.spent`"
    from fastinterp.callback import ImportanceTracker
    tr = ImportanceTracker()
    tr.__dict__['spent'] = [0., 0.]
    for ev in EVENTS:
        f = getattr(tr, ev, None)
        if f is None: continue
        def timed(f=f):
            w,c = time.perf_counter(),time.process_time()
            try: return f()
            finally: tr.spent[0] += time.perf_counter()-w; tr.spent[1] += time.process_time()-c
        tr.__dict__[ev] = timed            # fastai calls getattr(cb, event): the instance's wins
    return tr


def make_learner(case, seed=42):
    if case == 'ames':
        sys.path.insert(0, str(root/'demo'))
        from ames import ames_learner
        return ames_learner(seed=seed)
    from fastai.tabular.all import tabular_learner, rmse, set_seed
    from fastinterp.synth import synth_dls
    set_seed(seed, reproducible=True)
    return tabular_learner(synth_dls(n=80_000, seed=seed, bs=256, valid_pct=0.2), layers=[200, 100], metrics=rmse)


def one_run(case, epochs):
    "One fit with a timed tracker, in this process: the figures as a dict"
    import torch
    torch.set_num_threads(1)
    warnings.filterwarnings('ignore')
    learn = make_learner(case)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-2)          # warm up (imports, allocator)
    learn = make_learner(case)
    tr = timed_tracker()
    with learn.no_bar(), learn.no_logging():
        w,c = time.perf_counter(),time.process_time()
        learn.fit_one_cycle(epochs, 1e-2, cbs=tr)
        w,c = time.perf_counter()-w,time.process_time()-c
    bl = tr.budget_log
    return dict(wall_share=tr.spent[0]/(w-tr.spent[0]), cpu_share=tr.spent[1]/(c-tr.spent[1]), tracker_wall=tr.spent[0], fit_wall=w,
                tracked=int(bl.tracked.sum()), epochs=len(bl), rows=sorted(set(int(n) for n in bl.n_rows[bl.tracked])))


def in_process(code_dir, case, epochs):
    "`one_run` in a fresh process importing fastinterp from `code_dir`"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(code_dir), os.environ.get('PYTHONPATH', '')]), OMP_NUM_THREADS='1')
    cmd = [sys.executable, __file__, '--one', case, '--epochs', str(epochs)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=root)
    if out.returncode: raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--cases', default='ames,large')
    ap.add_argument('--vs', default='ad2d9b8', help='the revision to compare with (a commit of this repository)')
    ap.add_argument('--one', help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one: print(json.dumps(one_run(a.one, a.epochs))); return
    old = Path(tempfile.mkdtemp())
    subprocess.run(f"git -C {root} archive {a.vs} fastinterp | tar -x -C {old}", shell=True, check=True)
    head = subprocess.run(['git', '-C', str(root), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()
    print(f"this checkout ({head}, with its uncommitted changes) vs {a.vs}; {a.epochs} epochs, {a.rounds} alternating rounds, "
          f"one torch thread per process; load average {tuple(round(x, 1) for x in os.getloadavg())}")
    for case in a.cases.split(','):
        runs = {'new': [], 'old': []}
        for _ in range(a.rounds):
            runs['new'].append(in_process(root, case, a.epochs))
            runs['old'].append(in_process(old, case, a.epochs))
        print(f"\n{case}:")
        for k,label in (('new', 'this checkout'), ('old', a.vs)):
            r = runs[k]
            cpu,wall = [100*x['cpu_share'] for x in r],[100*x['wall_share'] for x in r]
            ms = 1000*statistics.median(x['tracker_wall'] for x in r)/a.epochs
            print(f"  {label:14s} tracker share of the rest of the fit: CPU {statistics.median(cpu):.1f}% "
                  f"(runs {', '.join(f'{v:.1f}' for v in cpu)}), wall {statistics.median(wall):.1f}%; "
                  f"{r[-1]['tracked']} of {r[-1]['epochs']} epochs tracked on {r[-1]['rows']} rows; {ms:.1f} ms per epoch")
        ratio = statistics.median(n['cpu_share']/o['cpu_share'] for n,o in zip(runs['new'], runs['old']))
        print(f"  ratio of the CPU shares, new/old, median over rounds: {ratio:.2f}")


if __name__ == '__main__': main()
