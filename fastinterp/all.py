"Everything public in fastinterp; importing it applies the `Learner`/`TabularLearner` patches."
from .core import *
from .importance import *
