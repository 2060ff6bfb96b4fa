"Small helpers the test modules share (fixtures live in conftest.py)."
import copy, itertools, random, time
from contextlib import contextmanager
from unittest import mock
import numpy as np, pandas as pd, torch
from fastai.tabular.all import (tabular_learner, tabular_config, rmse, set_seed, TabularDataLoaders, Categorify,
                                FillMissing, Normalize)
from fastinterp.synth import synth_dls, synth_df, twin_dls as synth_twin_dls

SIGNAL, NOISE = {'x0', 'x1', 'cat_a'}, ['noise_cont', 'noise_cat']
FEATURES = SIGNAL | set(NOISE)


def imp(fi):
    "importance by feature"
    return fi.set_index('feature')['importance']


def valid_df(learn, n=2000, **kw):
    "The raw validation rows a synth learner was built from (`synth_df(n, **kw)` with the same arguments)"
    return synth_df(n, **kw).loc[learn.dls.valid.dataset.items.index]


def rng_states():
    return random.getstate(), np.random.get_state(), torch.get_rng_state().clone()


def same_rng(a, b):
    return (a[0] == b[0] and a[1][0] == b[1][0] and np.array_equal(a[1][1], b[1][1]) and a[1][2:] == b[1][2:]
            and torch.equal(a[2], b[2]))


def tiny(seed=0, n=800, path=None, dropout=False, **kw):
    "A small untrained TabularLearner on `synth_df` (with dropout if asked, so any use of the global RNG shows)"
    set_seed(seed, reproducible=True)
    if dropout: kw['config'] = tabular_config(ps=0.2, embed_p=0.1)
    learn = tabular_learner(synth_dls(n=n, seed=seed, bs=64), layers=[16, 8], metrics=rmse, **kw)
    if path is not None: learn.path = path
    return learn


def quiet_fit(learn, n_epoch=2, lr=1e-2, **kw):
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(n_epoch, lr, **kw)


def weights(learn):
    return {k: v.detach().clone() for k, v in learn.model.state_dict().items()}


def same_weights(a, b):
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


def fresh_copy(learn, layers=(64, 32), **kw):
    "A new TabularLearner on the same DataLoaders with a copy of `learn`'s weights: safe to add callbacks to"
    new = tabular_learner(learn.dls, layers=list(layers), metrics=rmse, **kw)
    new.model.load_state_dict(copy.deepcopy(learn.model.state_dict()))
    new.model.eval()
    return new


def brute_force_preds(learn, df, values):
    "Set raw column(s) of a copy of `df`, process with test_dl and predict with get_preds: the slow reference"
    d = df.copy()
    for f, v in values.items(): d[f] = v
    with learn.no_bar(): preds, _ = learn.get_preds(dl=learn.dls.test_dl(d))
    return preds.double().numpy()


def twin_dls(n:int, n_valid:int, bs:int):
    "`fastinterp.synth.twin_dls`, after seeding fastai's RNGs (what the learners trained on it start from)"
    set_seed(0, reproducible=True)
    return synth_twin_dls(n, n_valid, bs)


@contextmanager
def ticking_clock(step:float):
    "`time.perf_counter` reads `step` seconds later at every reading: `time_limit=` takes the same decisions on any machine, under any load"
    ticks = itertools.count()
    with mock.patch.object(time, 'perf_counter', lambda: next(ticks)*step): yield


def cont_learner(df, y='y', epochs=5, n_valid=None, layers=(64, 32), lr=1e-2, seed=0):
    "A TabularLearner trained on the continuous columns of `df` (all but `y`); the last `n_valid` rows (default a quarter) validate"
    set_seed(seed, reproducible=True)
    n_valid = len(df) // 4 if n_valid is None else n_valid
    dls = TabularDataLoaders.from_df(df, y_names=y, cont_names=[c for c in df.columns if c != y], cat_names=[],
                                     procs=[Categorify, FillMissing, Normalize], valid_idx=list(range(len(df) - n_valid, len(df))),
                                     bs=128, y_block=None)
    learn = tabular_learner(dls, layers=list(layers), metrics=rmse)
    quiet_fit(learn, epochs, lr)
    return learn


def css_rgb(c:str) -> tuple:
    "(r, g, b) of a CSS colour written 'rgb(r,g,b)' (with or without spaces), '#rgb' or '#rrggbb'"
    c = c.strip()
    if c.startswith('#'):
        h = c[1:] if len(c) == 7 else ''.join(x*2 for x in c[1:])
        return tuple(int(h[i:i+2], 16) for i in (0, 2, 4))
    return tuple(int(x) for x in c[c.index('(')+1:c.index(')')].split(','))


def contrast_ratio(a:tuple, b:tuple) -> float:
    "WCAG 2's contrast ratio of two opaque sRGB colours (channels 0-255), as the docs' browser check computes it"
    def lum(c):
        lin = [x/12.92 if x <= 0.03928 else ((x+0.055)/1.055)**2.4 for x in np.asarray(c)/255]
        return 0.2126*lin[0] + 0.7152*lin[1] + 0.0722*lin[2]
    hi, lo = sorted([lum(a), lum(b)], reverse=True)
    return (hi+0.05)/(lo+0.05)


def chip_colours(style:str) -> tuple:
    "(background, text colour) as (r, g, b) from the inline style of a text explanation's word or swatch"
    d = dict(kv.split(':', 1) for kv in style.split(';') if ':' in kv)
    return css_rgb(d['background-color']), css_rgb(d['color'])


def chip_strength(bg:tuple) -> tuple:
    "(sign, strength) of a chip's background: +1 green (0,160,0), -1 red (220,0,0), mixed into white; 0 for white"
    r, g, b = bg
    if bg == (255, 255, 255): return 0, 0.
    if r == b and g >= r: return 1, (255-r)/255           # green over white: red and blue fall together
    if g == b and r >= g: return -1, (255-g)/255          # red over white: green and blue fall together
    raise AssertionError(f'{bg} is neither green nor red over white')
