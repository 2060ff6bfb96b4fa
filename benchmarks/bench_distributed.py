"""Permutation importance in 1 process vs N processes (torch.distributed; gloo on CPU), side by side in one run.

The problem is one where compute dominates: a TabularLearner with fastai's default layers [200, 100] on 20,000
evaluation rows of 9 features (6 continuous, 3 categorical), `feature_importance(n_repeats=20)`: 180 jobs + the
baseline. Each configuration is a fresh process (or a fresh `torchrun` of N), each with one torch thread, and the
configurations are interleaved `--reps` times, since the machine is shared; the table gives the median and the
load average. Times are measured inside the processes, around the `feature_importance` call only (after a warm-up
call), so start-up (imports, rendezvous, loading the learner) is reported apart. In the N-process runs each rank
also times the start-of-analysis checks (seed, fingerprint) and the runner's `combine` (where the shares' results
are put together, a faster rank waiting there for the others); its own share is the rest of the wall time. The
imbalance is the slowest rank's share minus the fastest's, and the rest of the wall time (wall - slowest share -
checks) is the collectives that put the results together. The control runs the same number of
products of the network's main layer shape ([rows, 200] x [200, 100]) split over the same processes, with no
fastinterp at all: the speed-up the machine allows at that moment.

    python benchmarks/bench_distributed.py [--rows 20000] [--repeats 20] [--reps 5] [--nproc 2] [--configs one,jobs,rows,one_mm,mm]

Target on GPUs (not measured here; no GPU was lent): near-linear, `t(N GPUs) ~ t(1)/N` plus a start that does not
grow with the data. To check on a multi-GPU machine: `python benchmarks/bench_distributed.py --device cuda --nproc 4`
(NCCL, one GPU per rank).
"""
import argparse, json, os, socket, statistics, subprocess, sys, tempfile, time, warnings
from pathlib import Path
warnings.filterwarnings('ignore')
HERE = Path(__file__).resolve()


def make_problem(rows, seed=0):
    "A 9-feature table (y a nonlinear function of 6 of them), a TabularLearner [200, 100] trained 1 epoch, and the evaluation rows"
    import numpy as np, pandas as pd
    from fastai.tabular.all import TabularDataLoaders, tabular_learner, Categorify, FillMissing, Normalize, rmse, set_seed
    rng = np.random.default_rng(seed)
    n = rows + 4000
    df = pd.DataFrame({f'c{i}': rng.normal(size=n) for i in range(6)})
    for i, k in enumerate([3, 10, 30]): df[f'k{i}'] = rng.integers(0, k, n).astype(str)
    df['y'] = (np.sin(2*df.c0) + df.c1*df.c2 + 0.5*df.c3 + (df.k0.astype(int)-1) + 0.01*df.k1.astype(int) + 0.1*rng.normal(size=n))
    set_seed(seed, reproducible=True)
    dls = TabularDataLoaders.from_df(df, y_names='y', cat_names=['k0', 'k1', 'k2'], cont_names=[f'c{i}' for i in range(6)],
                                     procs=[Categorify, FillMissing, Normalize], bs=256, y_block=None,
                                     valid_idx=list(range(4000, n)))
    learn = tabular_learner(dls, layers=[200, 100], metrics=rmse)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(1, 1e-2)
    return learn, df.iloc[4000:].reset_index(drop=True)


def _start(a):
    "Threads, the process group (if launched by torchrun) and the device of this process"
    import torch, torch.distributed as dist
    torch.set_num_threads(1)
    distributed = 'RANK' in os.environ
    dev = a.device
    if dev == 'cuda':
        dev = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
        torch.cuda.set_device(dev)
    if distributed: dist.init_process_group('nccl' if dev.startswith('cuda') else 'gloo')
    return distributed, dev


def _sync(dev):
    import torch
    if dev.startswith('cuda'): torch.cuda.synchronize(dev)


def _report(distributed, res):
    import torch.distributed as dist
    from fastinterp.distributed import call_scope, exchange
    with call_scope('report'): parts = exchange(res)
    if not distributed or dist.get_rank() == 0: print('RESULT ' + json.dumps(parts), flush=True)
    if distributed: dist.destroy_process_group()


def worker(a):
    "One process (or one rank): time `feature_importance` on the saved learner and rows"
    t_start = time.perf_counter()
    distributed, dev = _start(a)
    if a.shard == 'matmul': return matmul_worker(a, distributed, dev, t_start)
    import torch.distributed as dist
    import pandas as pd
    from fastai.learner import load_learner
    import fastinterp.all
    import fastinterp.runner as runner_mod
    learn, df = load_learner(a.learner, cpu=not dev.startswith('cuda')), pd.read_pickle(a.data)
    learn.model.to(dev)
    es = learn.eval_set(df)
    setup = time.perf_counter()-t_start
    spent = {'comm': 0., 'checks': 0.}
    def timed(f, key):
        def _f(*args, **kw):
            t = time.perf_counter()
            try: return f(*args, **kw)
            finally: _sync(dev); spent[key] += time.perf_counter()-t
        return _f
    runner_mod.combine = timed(runner_mod.combine, 'comm')            # the results put together (waiting for the other ranks included)
    runner_mod.check_same = timed(runner_mod.check_same, 'checks')
    runner_mod.shared_seed = timed(runner_mod.shared_seed, 'checks')
    with learn.no_bar():
        learn.feature_importance(es, n_repeats=1, max_samples=2000, seed=1, shard=a.shard)   # warm-up
        if distributed: dist.barrier()
        spent.update(comm=0., checks=0.)
        t = time.perf_counter()
        fi = learn.feature_importance(es, n_repeats=a.repeats, seed=0, shard=a.shard)
        _sync(dev)
        wall = time.perf_counter()-t
    _report(distributed, dict(wall=wall, setup=setup, share=wall-spent['comm']-spent['checks'], comm=spent['comm'], checks=spent['checks'], load=os.getloadavg()[0],
                              table=fi[['feature', 'importance']].values.tolist()))


def matmul_worker(a, distributed, dev, t_start):
    "The control: as many [rows, 200] x [200, 100] products (+ relu) as the analysis has jobs, split over the processes"
    import torch, torch.distributed as dist
    from fastinterp.distributed import block
    setup = time.perf_counter()-t_start
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(a.rows, 200, generator=g).to(dev), torch.randn(200, 100, generator=g).to(dev)
    lo, hi = block(9*a.repeats+1)
    (x@w).relu_(); _sync(dev)   # warm-up
    if distributed: dist.barrier()
    t = time.perf_counter()
    for _ in range(lo, hi): (x@w).relu_()
    _sync(dev)
    wall = time.perf_counter()-t
    _report(distributed, dict(wall=wall, setup=setup, share=wall, checks=0., load=os.getloadavg()[0], table=[]))


def _port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


def launch(config, a, learner, data):
    "Run one configuration in fresh process(es): each rank's timings, and the load average before it started"
    shard = {'one': 'jobs', 'jobs': 'jobs', 'rows': 'rows', 'one_mm': 'matmul', 'mm': 'matmul'}[config]
    args = [str(HERE), '--worker', '--learner', str(learner), '--data', str(data), '--rows', str(a.rows),
            '--repeats', str(a.repeats), '--device', a.device, '--shard', shard]
    if config.startswith('one'): cmd = [sys.executable] + args
    else: cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(a.nproc), '--master_addr', '127.0.0.1',
                 '--master_port', str(_port())] + args
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    load = os.getloadavg()[0]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    line = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
    if p.returncode != 0 or not line: raise RuntimeError(f"{config} failed:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return dict(ranks=json.loads(line[0][7:]), load_before=load)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--rows', type=int, default=20_000)
    ap.add_argument('--repeats', type=int, default=20)
    ap.add_argument('--reps', type=int, default=5)
    ap.add_argument('--nproc', type=int, default=2)
    ap.add_argument('--configs', default='one,jobs,rows,one_mm,mm')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--worker', action='store_true')
    ap.add_argument('--learner'); ap.add_argument('--data'); ap.add_argument('--shard', default='jobs')
    a = ap.parse_args()
    if a.worker: return worker(a)
    import torch
    torch.set_num_threads(1)
    N = a.nproc
    names = {'one': '1 process', 'jobs': f"{N} processes, shard='jobs'", 'rows': f"{N} processes, shard='rows'",
             'one_mm': 'control: matmuls, 1 process', 'mm': f'control: matmuls, {N} processes'}
    configs = a.configs.split(',')
    with tempfile.TemporaryDirectory() as tmp:
        learner, data = Path(tmp)/'learn.pkl', Path(tmp)/'rows.pkl'
        learn, df = make_problem(a.rows)
        learn.export(learner); df.to_pickle(data)
        print(f"torch {torch.__version__}, {os.cpu_count()} cores, device {a.device}, 1 torch thread per process; {a.rows} rows, "
              f"9 features, {a.repeats} repeats ({9*a.repeats} jobs + baseline), layers [200, 100]; "
              f"load average at start {tuple(round(x, 2) for x in os.getloadavg())}")
        runs = {c: [] for c in configs}
        for rep in range(a.reps):
            for c in configs:
                r = launch(c, a, learner, data)
                runs[c].append(r)
                print(f"  rep {rep} {names[c]:30s} wall {max(x['wall'] for x in r['ranks']):6.2f} s  (load {r['load_before']:.2f})", flush=True)
    tables = {c: [sorted(map(tuple, x['table'])) for x in runs[c][0]['ranks']] for c in configs if not c.endswith('mm')}
    ref = next(iter(tables.values()))[0] if tables else []
    same = all(len(t) == len(ref) and all(u[0] == v[0] and abs(u[1]-v[1]) < 1e-6 for u, v in zip(t, ref)) for ts in tables.values() for t in ts)
    med = statistics.median
    walls_of = lambda c: [max(x['wall'] for x in r['ranks']) for r in runs[c]]
    def base_of(c):
        b = 'one_mm' if c.endswith('mm') else 'one'
        return med(walls_of(b)) if b in runs else float('nan')
    print(f"\n{'configuration':32s} {'median s':>9s} {'min s':>7s} {'speed-up':>8s} {'efficiency':>10s} {'start s':>8s} {'share s':>8s} "
          f"{'checks s':>8s} {'gather s':>8s} {'imbalance s':>11s} {'load':>5s}")
    for c in configs:
        walls = walls_of(c)
        share = [max(x['share'] for x in r['ranks']) for r in runs[c]]
        checks = [max(x['checks'] for x in r['ranks']) for r in runs[c]]
        imb = [max(x['share'] for x in r['ranks'])-min(x['share'] for x in r['ranks']) for r in runs[c]]
        rest = [w-s-k for w, s, k in zip(walls, share, checks)]   # waiting for the slower rank is inside the slowest share
        start = [max(x['setup'] for x in r['ranks']) for r in runs[c]]
        if c.startswith('one'): share, rest, imb = walls, [0.]*len(walls), [0.]*len(walls)   # one process: all of it is its share
        n = 1 if c.startswith('one') else N
        print(f"{names[c]:32s} {med(walls):9.2f} {min(walls):7.2f} {base_of(c)/med(walls):7.2f}x {base_of(c)/med(walls)/n:10.0%} "
              f"{med(start):8.2f} {med(share):8.2f} {med(checks):8.3f} {med(rest):8.3f} {med(imb):11.2f} "
              f"{med([r['load_before'] for r in runs[c]]):5.2f}")
    print(f"\nsame table in every configuration and on every rank (to 1e-6): {same}")
    print("speed-up: the 1-process median / this median (the control: against the 1-process control); efficiency: speed-up / "
          "processes. start: imports, rendezvous, loading the learner and the rows (not in the wall time). share: the slowest "
          "rank's own work; checks: seed and fingerprint exchange; gather: the rest (collectives); imbalance: slowest minus "
          "fastest rank's share. load: 1-minute load average before each run.")
    print(f"load average at end {tuple(round(x, 2) for x in os.getloadavg())}")


if __name__ == '__main__': main()
