"The exported lower-level functions check their arguments as the patched methods do: a clear ArgumentError, never a raw error or a silent cast"
import numpy as np, pandas as pd, pytest, torch
from torch import nn
from fastinterp.checks import ArgumentError
from fastinterp.shapley import shapley_values, exact_shapley
from fastinterp.explain_rows import attribute_rows
from fastinterp.correlation import association_matrix
from fastinterp.engine import run_perturbed
from fastinterp.vision.methods import grad_cam, occlusion_maps, ig_maps

X = (torch.zeros(4, 2),)
FEATS = {'a': [(0, 0)], 'b': [(0, 1)]}
TGT = torch.zeros(4, dtype=torch.long)
lin = nn.Linear(2, 1)
img = (nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2)), torch.zeros(2, 1, 8, 8))

CASES = [
    (lambda **kw: shapley_values(lin, X, X, FEATS, **kw), dict(n_samples=2.7), 'n_samples'),
    (lambda **kw: shapley_values(lin, X, X, FEATS, **kw), dict(n_samples=True), 'n_samples'),
    (lambda **kw: shapley_values(lin, X, X, FEATS, **kw), dict(seed=-1), 'seed'),
    (lambda **kw: shapley_values(lin, X, X, FEATS, **kw), dict(bs=0), 'bs'),
    (lambda **kw: exact_shapley(lin, X, X, FEATS, **kw), dict(bs=0), 'bs'),
    (lambda **kw: attribute_rows(lin, X, X, FEATS, TGT, **kw), dict(n_samples=2.7), 'n_samples'),
    (lambda **kw: attribute_rows(lin, X, X, FEATS, TGT, **kw), dict(seed=-1), 'seed'),
    (lambda **kw: attribute_rows(lin, X, X, FEATS, TGT, **kw), dict(bs=0), 'bs'),
    (lambda **kw: attribute_rows(lin, X, X, FEATS, TGT, **kw), dict(tol=-0.1), 'tol'),
    (lambda **kw: run_perturbed(lin, X, None, lambda p, a, b: p, **kw), dict(bs=0), 'bs'),
    (lambda **kw: grad_cam(img[0], img[1], img[0][0], lambda p, a, b: torch.zeros(len(p), dtype=torch.long), **kw), dict(bs=0), 'bs'),
    (lambda **kw: occlusion_maps(img[0], img[1], torch.zeros(2, dtype=torch.long), **kw), dict(window=0, stride=1), 'window'),
    (lambda **kw: ig_maps(img[0], img[1], torch.zeros(2, dtype=torch.long), 0., **kw), dict(n_steps=2.5), 'n_steps'),
]

@pytest.mark.parametrize('call,kw,name', CASES, ids=[f'{i}-{c[2]}' for i, c in enumerate(CASES)])
def test_bad_argument_is_named(call, kw, name):
    with pytest.raises(ArgumentError, match=name): call(**kw)


def test_association_matrix_refuses_what_it_cannot_read():
    with pytest.raises(ArgumentError, match='needs a DataFrame'): association_matrix(np.zeros((3, 2)))
    with pytest.raises(ArgumentError, match='not in the DataFrame'): association_matrix(pd.DataFrame({'a': [1., 2, 3]}), cont_names=['z'])
