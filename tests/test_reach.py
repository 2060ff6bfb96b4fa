"""Every kind of fastai Learner (issue 19): the matrix of learner kinds by analysis. Each cell either works (and its
answer is checked against what the model was trained on) or refuses with a message that says what to do instead.

| learner | feature_importance | tracker | explain | partial_dependence |
|---|---|---|---|---|
| tabular | columns | columns | Shapley (raw rows) | raw units |
| plain tensor, one input | columns (`names=`) | yes | Shapley (tensor rows) | tensor units |
| plain tensor, two inputs | columns across inputs | yes | Shapley | tensor units |
| multi-target | columns | yes | `target=` required | `target=` required |
| text | tokens (`max_tokens=`) | yes | integrated gradients | refused: token ids are not columns |
| CNN, timm CNN | patches, channels | yes | Grad-CAM (last map >= 7 px) | refused: not columns |
| ViT (timm) | patches | yes | Grad-CAM at the last block's attention input | refused |
| U-Net | patches | yes | refused: a map per input | refused |
| sequence (N,C,T) | channels, windows | yes | Grad-CAM 1-d, occlusion, IG | refused |

The tabular, text, CNN and sequence cells are checked at length in their own test files; here each gets a quick
pass so that the whole matrix is in one place."""
import numpy as np, pandas as pd, pytest, torch
from torch import nn
import fastcore.test as fct
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import MSELossFlat, CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.torch_core import set_seed
from fastinterp.all import *
from fastinterp.synth import synth_text_learner, square_images, image_dls, small_cnn, pulse_series, series_dls, small_cnn1d
from helpers import quiet_fit


def in_out(m, mask):
    m = np.clip(m, 0, None)
    return m[mask].mean() / max(m[~mask].mean(), 1e-12)


def _tracks(learn, **kw):
    "A one-epoch fit with a tracker: the history has every feature at epoch 0"
    tr = ImportanceTracker(budget=None, **kw)
    quiet_fit(learn, 1, lr=1e-3, cbs=tr)
    assert len(tr.history) and (tr.history.epoch == 0).all()
    return tr.history


# ---------------------------------------------------------------- plain tensors
def tensor_learner(n_out=1, seed=0):
    "y = 2*a + b**2 (and, for two outputs, a second one = c) on three columns"
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(1024, 3, generator=g)*4-2
    Y = torch.stack([2*X[:, 0] + X[:, 1]**2, X[:, 2]], 1)[:, :n_out]
    ds = list(zip(X, Y))
    set_seed(seed, reproducible=True)
    model = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, n_out))
    learn = Learner(DataLoaders(DataLoader(ds[:768], bs=64, shuffle=True), DataLoader(ds[768:], bs=256)), model, loss_func=MSELossFlat())
    quiet_fit(learn, 40, lr=1e-2)
    return learn


@pytest.fixture(scope='module')
def tens(): return tensor_learner()


def test_plain_tensor_one_input(tens):
    names = ['a', 'b', 'c']
    fi = tens.feature_importance(names=names, n_repeats=3, seed=0)
    assert list(fi.feature[:2]) == ['a', 'b'] and abs(fi.set_index('feature').importance['c']) < 0.05, fi
    assert set(_tracks(tens, names=names).feature) == set(names)
    e = tens.explain(torch.tensor([1., 1., 0.]), names=names, seed=0)
    fct.test_close(e.attrs['base_value'] + e.contribution.sum(), e.attrs['prediction'], eps=1e-9)
    assert abs(e.set_index('feature').contribution['c']) < 0.1, e
    p = tens.partial_dependence('a', names=names, grid=[-1., 1.])
    fct.test_close(p.average[1] - p.average[0], 4, eps=0.5)      # slope 2 in a
    assert len(tens.feature_interactions(names=names, seed=0)) == 3
    assert set(tens.feature_correlation(names=names).columns) == set(names)


class TwoInputs(nn.Module):
    "y = 2*a + b (input 0: a, b) + 3*c (input 1: c, d)"
    def __init__(self): super().__init__(); self.l0, self.l1 = nn.Linear(2, 1), nn.Linear(2, 1)
    def forward(self, x0, x1): return self.l0(x0) + self.l1(x1)


def test_plain_tensor_two_inputs():
    g = torch.Generator().manual_seed(0)
    X0, X1 = torch.randn(600, 2, generator=g), torch.randn(600, 2, generator=g)
    Y = (2*X0[:, 0] + X0[:, 1] + 3*X1[:, 0])[:, None]
    ds = list(zip(X0, X1, Y))
    set_seed(0, reproducible=True)
    learn = Learner(DataLoaders(DataLoader(ds[:450], bs=32, shuffle=True), DataLoader(ds[450:], bs=150)), TwoInputs(), loss_func=MSELossFlat())
    learn.dls.n_inp = 2
    quiet_fit(learn, 30, lr=5e-2)
    names = ['a', 'b', 'c', 'd']
    fi = learn.feature_importance(names=names, n_repeats=3, seed=0)
    assert fi.feature[0] == 'c' and fi.feature.iloc[-1] == 'd', fi           # 3*c matters most, d not at all
    assert set(_tracks(learn, names=names).feature) == set(names)
    e = learn.explain((torch.tensor([1., 1.]), torch.tensor([1., 0.])), names=names, seed=0)
    fct.test_close(e.attrs['base_value'] + e.contribution.sum(), e.attrs['prediction'], eps=1e-9)
    p = learn.partial_dependence('c', names=names, grid=[0., 1.])
    fct.test_close(p.average[1] - p.average[0], 3, eps=0.3)


def test_multi_target():
    learn = tensor_learner(n_out=2)
    names = ['a', 'b', 'c']
    assert len(learn.feature_importance(names=names, n_repeats=1, seed=0)) == 3
    assert len(_tracks(learn, names=names)) == 3
    with pytest.raises(ArgumentError, match=r"The model has 2 outputs.*pass target="): learn.explain(torch.ones(3), names=names)
    with pytest.raises(ArgumentError, match=r"pass target= one of them, or all"): learn.partial_dependence('a', names=names)
    e = learn.explain(torch.ones(3), names=names, target=1, seed=0)
    assert e.feature[0] == 'c', e                                          # output 1 is c
    p = learn.partial_dependence('c', names=names, target='all', grid=[0., 1.])
    assert set(p.target) == {'output_0', 'output_1'}


# ---------------------------------------------------------------- text
def test_text():
    learn = synth_text_learner()
    fi = learn.feature_importance(max_tokens=5, seed=0, bs=256)
    assert fi.feature[0] == 'family'
    assert set(_tracks(learn, max_tokens=5, bs=256).feature) == set(fi.feature)
    e = learn.explain('the nurse saw the family')
    assert e.token[e.attribution.idxmax()] == 'family'
    with pytest.raises(ArgumentError, match="a text classifier's inputs are token ids"): learn.partial_dependence('x0')


# ---------------------------------------------------------------- images: CNN, ViT, timm CNN, U-Net
@pytest.fixture(scope='module')
def squares():
    imgs, labels, masks = square_images(400, size=32, square=8, seed=0)
    set_seed(0, reproducible=True)
    return imgs, labels, masks, image_dls(imgs, labels, bs=32, device='cpu')


def _class1(data, k=16):
    imgs, labels, masks, dls = data
    vi = np.array(dls.valid.items); vi = vi[labels[vi] == 1][:k]
    return list(imgs[vi]), masks[vi]


def _image_cells(learn, data):
    "feature_importance (patches), the tracker, and the refusal of partial dependence"
    assert len(learn.feature_importance(patch_size=16, n_repeats=1, seed=0, bs=256)) == 4
    assert len(_tracks(learn, patch_size=16, bs=256)) == 4
    with pytest.raises(ArgumentError, match=r'rows of columns \(2-d\)'): learn.partial_dependence('x0')


def test_cnn(squares):
    set_seed(0, reproducible=True)
    learn = Learner(squares[3], small_cnn(), metrics=accuracy)
    quiet_fit(learn, 4)
    xs, ms = _class1(squares)
    e = learn.explain(xs)
    assert np.mean([in_out(m, k) > 2 for m, k in zip(e.map, ms)]) >= 0.9
    _image_cells(learn, squares)


@pytest.mark.slow
def test_vit(squares):
    """A timm ViT trained from scratch (no pretrained weights; 4-px patches on 32-px images, 4 blocks): Grad-CAM looks at
    the input of the last block's attention, an 8x8 grid of patch tokens, and its map sits on the square. It reached
    validation accuracy 1.0 in two epochs of this seed (the square is easy); over the class-1 validation images the
    map's mean on the square was more than twice its mean elsewhere in at least 80% (occlusion and integrated
    gradients: all)."""
    from fastai.vision.all import vision_learner
    set_seed(0, reproducible=True)
    learn = vision_learner(squares[3], 'vit_tiny_patch16_224', pretrained=False, img_size=32, patch_size=4, depth=4, metrics=accuracy)
    quiet_fit(learn, 2, lr=2e-3)
    with learn.no_bar(): assert learn.validate()[1] >= 0.95
    xs, ms = _class1(squares)
    e = learn.explain(xs)
    assert e.frame.attrs['layer'] == '0.model.blocks.3.norm1' and e.frame.attrs['layer_size'] == [8, 8]
    assert np.mean([in_out(m, k) > 2 for m, k in zip(e.map, ms)]) >= 0.8
    eo = learn.explain(xs[:8], method='occlusion')
    assert np.mean([in_out(m, k) > 2 for m, k in zip(eo.map, ms[:8])]) >= 0.9
    _image_cells(learn, squares)


@pytest.mark.slow
def test_timm_cnn(squares):
    """A timm ConvNeXt from scratch: the layer is the stage that keeps an 8x8 map (`stages.0`), not the stem, and the map
    sits on the square. With this seed it reached validation accuracy 0.96 in 10 epochs, and the map was on the square
    on 16 of 16 class-1 validation images; the test asks for 80%."""
    from fastai.vision.all import vision_learner
    set_seed(0, reproducible=True)
    learn = vision_learner(squares[3], 'convnext_atto', pretrained=False, metrics=accuracy)
    quiet_fit(learn, 10, lr=4e-3)
    with learn.no_bar(): assert learn.validate()[1] >= 0.95
    xs, ms = _class1(squares)
    e = learn.explain(xs)
    assert e.frame.attrs['layer'].startswith('0.model.stages') and min(e.frame.attrs['layer_size']) >= 7, e.frame.attrs
    assert np.mean([in_out(m, k) > 2 for m, k in zip(e.map, ms)]) >= 0.8


def test_unet_refuses_explain_and_has_patch_importance():
    "Segmentation (a class map per pixel): feature_importance over patches works on the per-pixel loss; explain says what to use"
    from fastai.vision.all import unet_learner, DataBlock, ImageBlock, MaskBlock, RandomSplitter, resnet18
    from fastinterp.synth import _Item
    imgs, labels, masks = square_images(48, size=32, square=8, seed=3)
    db = DataBlock(blocks=(ImageBlock, MaskBlock(codes=['bg', 'square'])), get_x=_Item(imgs), get_y=_Item(masks.astype(np.uint8)),
                   splitter=RandomSplitter(0.25, seed=0))
    dls = db.dataloaders(list(range(len(imgs))), bs=8, num_workers=0, device='cpu')
    set_seed(0, reproducible=True)
    learn = unet_learner(dls, resnet18, pretrained=False, n_out=2)
    quiet_fit(learn, 1)
    fi = learn.feature_importance(patch_size=16, n_repeats=1, seed=0, bs=32)
    assert len(fi) == 4 and fi.attrs['score'] == 'CrossEntropyLoss'
    with pytest.raises(ArgumentError, match=r'a \(2, 32, 32\) map per input'): learn.explain(imgs[0])


# ---------------------------------------------------------------- sequences
def test_sequence():
    x, y, masks = pulse_series(400, seed=1)
    set_seed(0, reproducible=True)
    learn = Learner(series_dls(x, y), small_cnn1d(), loss_func=CrossEntropyLossFlat(), metrics=accuracy)
    quiet_fit(learn, 8)
    assert learn.feature_importance(names=['a', 'b', 'c'], n_repeats=2, seed=0).feature[0] == 'b'
    assert len(_tracks(learn, patch_size=32)) == 3
    i1 = np.flatnonzero(y == 1)[:8]
    assert np.mean([in_out(m, k) > 2 for m, k in zip(learn.explain(x[i1]).map, masks[i1])]) >= 0.9
    with pytest.raises(ArgumentError, match=r'rows of columns \(2-d\)'): learn.partial_dependence('x0')


# ---------------------------------------------------------------- another library patching Learner (tsai)
def test_another_library_replacing_feature_importance(tens):
    """tsai patches `Learner.feature_importance` with its own signature: whichever is imported last wins. With the
    other library last, fastinterp's stays reachable as `learn.fastinterp.feature_importance`, the next fastinterp
    analysis warns (once) and names the way there; the tsai calling convention works on fastinterp's own method."""
    import warnings
    from fastinterp import analyses as registry
    ours = Learner.feature_importance
    def other_feature_importance(self, X=None, y=None, feature_names=None, partial_n=None, show_chart=True):
        "A stand-in for tsai's (tsai itself is not a test dependency)"
        return 'the other library'
    other_feature_importance.__module__ = 'tsai.analysis'
    registry._warned.discard('feature_importance')
    try:
        Learner.feature_importance = other_feature_importance
        fct.test_eq(tens.feature_importance(), 'the other library')
        with pytest.raises(TypeError, match="unexpected keyword argument 'names'"): tens.feature_importance(names=['a', 'b', 'c'])
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter('always')
            tens.partial_dependence('x0', grid_resolution=5)
            tens.partial_dependence('x0', grid_resolution=5)
        msgs = [str(x.message) for x in w if 'is not fastinterp' in str(x.message)]
        fct.test_eq(len(msgs), 1)                                          # once
        assert 'tsai.analysis replaced it' in msgs[0] and 'learn.fastinterp.feature_importance(...)' in msgs[0]
        fi = tens.fastinterp.feature_importance(names=['a', 'b', 'c'], seed=0, n_repeats=2)
        fct.test_eq(fi.feature[0], 'a')
        assert 'feature_importance' in dir(tens.fastinterp)
    finally:
        Learner.feature_importance = ours
        registry._warned.discard('feature_importance')
    # tsai's call on fastinterp's method: the same answer as the validation DataLoader gives
    X = torch.stack([x for x, _ in tens.dls.valid.dataset]).numpy(); y = torch.stack([t for _, t in tens.dls.valid.dataset]).numpy()
    pd.testing.assert_frame_equal(tens.feature_importance(X=X, y=y, feature_names=['a', 'b', 'c'], seed=0, n_repeats=2),
                                  tens.feature_importance(names=['a', 'b', 'c'], seed=0, n_repeats=2))
