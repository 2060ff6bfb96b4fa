"What users call. Importing it applies fastinterp's methods to fastai's `Learner`: `feature_importance` (marginal or conditional), `eval_set`, `partial_dependence`, `ale`, `feature_correlation`, `feature_interactions`, `sage`, `explain` (for every kind of input), `phrase_importance` and `learn.fastinterp`."
from .checks import FastinterpError, ArgumentError, DataError
from .evalset import EvalSet
from .engine import shortcuts
from .results import Result
from .distributed import one_process, DistributedError
from .analyses import Analyses
from .correlation import association_matrix, cluster_features, auto_groups
from .conditional import Subgroups
from .importance import *
from .dependence import *
from .interactions import *
from .shapley import shapley_values, exact_shapley
from .attribution import EXPLAIN_METHODS
from .explain_rows import explain_table, explain_tensor_rows, explanation_summary, concat_explanations
from .sage import sage_values
from .text_units import *
from .explain_text import *
from .phrases import *
from .hf_text import HFTokens, explain_hf_text, hf_model, hf_tokenizer, word_frame
from .vision.explain import IMAGE_METHODS, ImageExplanation, explain_images, explain_series
from .explain import EXPLAINERS, explanation_for
from .vision.inputs import decode_images
from .vision.layers import find_layer
from .vision.methods import OUTPUTS
from .drift import HISTORY_COLUMNS, epoch_seed, importance_drift
from .callback import ImportanceTracker
from .interop import to_shap
from .plots.importance import plot_importance
from .plots.dependence import plot_partial_dependence
from .plots.correlation import plot_dendrogram
from .plots.interactions import plot_interactions
from .plots.explain import plot_explanation, plot_explanation_summary
from .plots.text import explanation_html, text_words, text_scale, phrase_bars, plot_phrases
from .plots.image import plot_image_explanation, plot_image_explanations, plot_patch_importance
from .plots.series import plot_series_explanation
from .plots.drift import plot_importance_history
from .report import explanation_report, CaseReport, case_kind
