"Everything public in fastinterp; importing it applies the `Learner`/`TabularLearner` patches."
from .core import *
from .importance import *
from .explain import *
from .explain_text import *
from .dependence import *
from .correlation import *
from .callback import *
