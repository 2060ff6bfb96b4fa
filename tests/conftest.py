"Shared pytest fixtures: small synthetic learners (trained once per session) and a clean matplotlib state."
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
import pytest
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
