"Shared pytest fixtures: small synthetic learners (trained once per session) and a clean matplotlib state."
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import os, pickle, socket, subprocess, sys, time
from pathlib import Path
import pytest, torch
from fastinterp.synth import synth_learner, synth_df


@pytest.fixture(scope='session')
def reg_learn():
    "TabularLearner on `synth_df` (regression, MSE loss): y = 2*x0 + x1 + effect(cat_a) + noise"
    return synth_learner('regression', n=2000, epochs=4)


@pytest.fixture(scope='session')
def clf_learn():
    "TabularLearner on `synth_df` (classification, cross-entropy; metric accuracy)"
    return synth_learner('classification', n=2000, epochs=4)


@pytest.fixture(scope='session')
def na_learn():
    "Regression learner whose `x1` has 20% missing values, so FillMissing adds `x1_na`"
    return synth_learner('regression', df=synth_df(2000, missing=0.2), epochs=3)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close('all')


@pytest.fixture(autouse=True, scope='session')
def _one_thread():
    "Tiny models gain nothing from intra-op threads, and on a busy machine the threads spin: ~10x slower wall time"
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.fixture(scope='session')
def dist_run(tmp_path_factory):
    "One 2-rank gloo launch of tests/dist_worker.py for every torch.distributed check: the learner and rows, each rank's results"
    from fastai.learner import load_learner
    from helpers import tiny, quiet_fit, valid_df
    tmp = tmp_path_factory.mktemp('dist')
    learn = tiny(n=800)
    quiet_fit(learn, 2)
    learn.export(tmp/'learn.pkl')
    df = valid_df(learn, n=800)
    df.to_pickle(tmp/'rows.pkl')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_addr', '127.0.0.1',
           '--master_port', str(_free_port()), str(Path(__file__).with_name('dist_worker.py')), str(tmp/'learn.pkl'), str(tmp/'rows.pkl'), str(tmp)]
    start = time.time()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-5000:] + p.stderr[-5000:]
    ranks = [pickle.load(open(tmp/f'rank{r}.pkl', 'rb')) for r in range(2)]
    for r in ranks: assert not r['errs'], r['errs']
    return dict(learn=load_learner(tmp/'learn.pkl'), df=df, res=[r['res'] for r in ranks], seconds=time.time()-start, tmp=tmp)
