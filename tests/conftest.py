"Shared pytest fixtures: small synthetic learners (trained once per session) and a clean matplotlib state."
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
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
