"What users call. Importing it applies fastinterp's methods to fastai's `Learner` (`feature_importance`, `eval_set`, `partial_dependence`, `ale`, `feature_correlation`, `feature_interactions`) and `TabularLearner`/`TextLearner` (`explain`), and `explain` to any `Learner` whose input is an image batch."
from .checks import FastinterpError, ArgumentError, DataError
from .evalset import EvalSet
from .engine import shortcuts
from .results import Result
from .importance import plot_importance
from .dependence import plot_partial_dependence
from .correlation import association_matrix, cluster_features, auto_groups, plot_dendrogram
from .shapley import shapley_values, exact_shapley
from .explain import EXPLAIN_METHODS, plot_explanation, explanation_summary, plot_explanation_summary
from .explain_text import explanation_html
from .callback import ImportanceTracker, HISTORY_COLUMNS, epoch_seed, importance_drift, plot_importance_history
from .interactions import plot_interactions
from .vision import (IMAGE_METHODS, OUTPUTS, ImageExplanation, find_layer, decode_images, patch_features, plot_image_explanation,
                     plot_image_explanations, plot_patch_importance)
from .distributed import one_process, DistributedError
