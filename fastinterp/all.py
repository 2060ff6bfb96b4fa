"What users call. Importing it applies fastinterp's methods to fastai's `Learner` (`feature_importance`, `eval_set`, `partial_dependence`, `ale`, `feature_correlation`) and `TabularLearner`/`TextLearner` (`explain`)."
from .checks import FastinterpError, ArgumentError, DataError
from .evalset import EvalSet
from .engine import shortcuts
from .results import Result
from .importance import plot_importance
from .dependence import plot_partial_dependence
from .correlation import association_matrix, cluster_features, auto_groups, plot_dendrogram
from .explain import EXPLAIN_METHODS, plot_explanation
from .explain_text import explanation_html
from .callback import ImportanceTracker, HISTORY_COLUMNS, epoch_seed, importance_drift, plot_importance_history
