"""Image learners: `learn.explain` (Grad-CAM, occlusion, integrated gradients) against ground truth by construction,
region (patch) and channel importance, the tracker, bad input, and no side effects.

Ground truth: uniform-noise images where class 1 carries a bright square (`square_images`); a correct map of class 1
puts its mass on the square. Each model is trained once per module."""
import pickle
import numpy as np, pandas as pd, pytest, torch
from torch import nn
import fastcore.test as fct
from fastai.vision.all import Learner, vision_learner, resnet18, accuracy, set_seed, Resize, PILImage, CrossEntropyLossFlat
from fastinterp.all import *
from fastinterp.synth import square_images, image_dls, small_cnn
from fastinterp.vision.inputs import image_input
from fastinterp.vision.methods import grad_cam, softmax_log_odds
from fastinterp.guard import eval_mode
from fastinterp.inputs import Grid
from helpers import rng_states, same_rng, tiny


def train(learn, epochs, lr=1e-2):
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, lr)
    return learn


def squares(seed=0, bs=32, **kw):
    "(imgs, labels, masks, dls) of the square data; the dls' shuffling is seeded too"
    set_seed(seed, reproducible=True)
    imgs, labels, masks = square_images(seed=seed, **kw)
    return imgs, labels, masks, image_dls(imgs, labels, bs=bs, device='cpu', seed=seed)


def in_out(m, mask):
    "Mean of the (positive part of the) map inside the square over its mean outside"
    m = np.clip(m, 0, None)
    return m[mask].mean() / max(m[~mask].mean(), 1e-12)


def on_square(maps, masks):
    "Fraction of maps whose mean inside the square is more than twice the mean outside"
    return float(np.mean([in_out(m, k) > 2 for m, k in zip(maps, masks)]))


def class1_valid(data, k=None):
    imgs, labels, masks, dls = data
    vi = np.array(dls.valid.items)
    vi = vi[labels[vi] == 1][:k]
    return list(imgs[vi]), masks[vi]


@pytest.fixture(scope='module')
def sq():
    "Random squares, 32 px, 6-px square"
    return squares(0, n=400, size=32, square=6)


@pytest.fixture(scope='module')
def cnn(sq):
    "A plain nn.Sequential CNN trained on `sq`"
    set_seed(0, reproducible=True)
    return train(Learner(sq[3], small_cnn(), metrics=accuracy), 4)


@pytest.fixture(scope='module')
def sq8():
    "Random squares, 32 px, 8-px square (for the resnet)"
    return squares(1, bs=16, n=400, size=32, square=8)


@pytest.fixture(scope='module')
def rn(sq8):
    "vision_learner(resnet18, pretrained=False) trained from scratch on `sq8`"
    set_seed(1, reproducible=True)
    return train(vision_learner(sq8[3], resnet18, pretrained=False, metrics=accuracy), 4)


@pytest.fixture(scope='module')
def fixed():
    "The square always at rows/columns 8-13, in the red channel only; a plain CNN trained on it"
    set_seed(1, reproducible=True)
    imgs, labels, masks = square_images(400, size=32, square=6, at=(8, 8), channel=0, seed=1)
    dls = image_dls(imgs, labels, bs=32, device='cpu', seed=1)
    set_seed(0, reproducible=True)
    return imgs, labels, train(Learner(dls, small_cnn(), metrics=accuracy), 3)


# ------------------------------------------------------------------ ground truth
def test_gradcam_finds_square_cnn(sq, cnn):
    xs, ms = class1_valid(sq)
    e = cnn.explain(xs)
    assert e.frame.attrs['layer'] == '4' and e.frame.attrs['layer_size'] == [8, 8]
    assert (e.frame.target == '1').all()
    assert on_square(e.map, ms) >= 0.9


@pytest.mark.parametrize('method', ['occlusion', 'integrated_gradients'])
def test_occlusion_ig_find_square_cnn(sq, cnn, method):
    xs, ms = class1_valid(sq, 16)
    assert on_square(cnn.explain(xs, method=method).map, ms) >= 0.9


def test_noise_tunnel_finds_square(sq, cnn):
    xs, ms = class1_valid(sq, 8)
    e = cnn.explain(xs, method='integrated_gradients', noise_tunnel=True, nt_samples=4, n_steps=16, seed=0)
    assert on_square(e.map, ms) >= 0.9
    assert e.frame.attrs['seed'] == 0 and e.frame.attrs['nt_samples'] == 4


class Diff(nn.Module):
    "The log-odds of a 2-class softmax, z1 - z0, as a model with one output: what captum's Grad-CAM then explains"
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, x): z = self.m(x); return (z[:, 1] - z[:, 0])[:, None]


@pytest.mark.slow
def test_gradcam_resnet18_rule_against_captum_and_known_answer(sq8, rn):
    """At 32 px the rule looks at layer1 (8x8), and `learn.explain`'s map there is captum's `LayerGradCam` of the log-odds
    on the same model: the implementation, checked on whatever this training learnt. Whether Grad-CAM on a from-scratch
    resnet18 finds the square depends on the training (benchmarks/bench_gradcam_layer.log: 0.80 to 1.00 of the images at
    32 px, seed to seed, at the rule's layer), so the known answer is asserted with occlusion, which found it in every
    resnet18 training at 32 px there; the classic "last conv layer", 1x1 here, warns that its map is constant."""
    import captum.attr as ca
    xs, ms = class1_valid(sq8)
    e = rn.explain(xs)
    assert e.frame.attrs['layer'] == '0.4' and e.frame.attrs['layer_size'] == [8, 8]
    x = image_input(rn, xs)[0]
    with eval_mode(rn.model):
        ref = ca.LayerGradCam(Diff(rn.model), rn.model[0][4]).attribute(x, target=0, relu_attributions=True)
        ref = ca.LayerAttribution.interpolate(ref, (32, 32), interpolate_mode='bilinear')[:, 0].detach().numpy()
    # the same forward and backward, but our log-odds comes from log_softmax, captum's from z1 - z0: equal up to rounding
    np.testing.assert_allclose(e.map, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    assert on_square(rn.explain(xs, method='occlusion').map, ms) >= 0.9
    with pytest.warns(UserWarning, match='constant'):
        flat = rn.explain(xs[:2], min_size=1)            # the classic "last conv layer": the body, 1x1 at 32 px
    assert flat.frame.attrs['layer'] == '0'


@pytest.mark.slow
def test_gradcam_matches_captum_resnet(sq8, rn):
    import captum.attr as ca
    xs, _ = class1_valid(sq8, 4)
    x = image_input(rn, xs)[0]
    layer = rn.model[0][4]
    with eval_mode(rn.model):
        mine = grad_cam(rn.model, x, layer, lambda p, a, b: torch.ones(len(p), dtype=torch.long))[0]
        ref = ca.LayerGradCam(rn.model, layer).attribute(x, target=1, relu_attributions=True)
        ref = ca.LayerAttribution.interpolate(ref, (32, 32), interpolate_mode='bilinear')[:, 0]
        lo = grad_cam(rn.model, x, layer, lambda p, a, b: torch.ones(len(p), dtype=torch.long), transform=softmax_log_odds)[0]
        ref_lo = ca.LayerGradCam(Diff(rn.model), layer).attribute(x, target=0, relu_attributions=True)
        ref_lo = ca.LayerAttribution.interpolate(ref_lo, (32, 32), interpolate_mode='bilinear')[:, 0]
    fct.test_close(mine, ref, eps=1e-4)        # the same passes; float32 rounding of the channel sums
    fct.test_close(lo, ref_lo, eps=1e-4)


def test_timm_body_layer_rule(sq):
    "vision_learner with a timm model name builds offline (pretrained=False); the rule looks inside its TimmBody"
    pytest.importorskip('timm')
    learn = vision_learner(sq[3], 'resnet18', pretrained=False)
    assert find_layer(learn.model, torch.zeros(1, 3, 32, 32))[1] == '0.model.layer1'
    assert find_layer(learn.model, torch.zeros(1, 3, 64, 64))[1:3] == ('0.model.layer2', (1, 128, 8, 8))
    assert find_layer(learn.model, torch.zeros(1, 3, 224, 224))[1:3] == ('0', (1, 512, 7, 7))
    e = learn.explain(sq[0][:2])
    assert e.map.shape == (2, 32, 32) and e.frame.attrs['layer'] == '0.model.layer1'


def test_patch_importance_ranks_square_patch(fixed):
    imgs, labels, learn = fixed
    fi = learn.feature_importance(patch_size=8, n_repeats=3, seed=0, bs=512)
    assert len(fi) == 16 and fi.feature[0] == 'patch_1_1'          # rows/columns 8-13 lie in patch (1, 1)
    assert fi.importance[0] > 5 * fi.importance[1:].abs().max()
    ax = plot_patch_importance(fi, image=imgs[labels == 1][0], patch_size=8)
    assert ax.get_title().startswith('Patch importance')


def test_channel_importance_ranks_square_channel(fixed):
    _, _, learn = fixed
    fi = learn.feature_importance(names=['R', 'G', 'B'], n_repeats=3, seed=0, bs=512)
    assert fi.feature[0] == 'R' and fi.importance[0] > 5 * fi.importance[1:].abs().max()


def test_tracker_tracks_patches(fixed):
    imgs, labels, learn = fixed
    new = Learner(learn.dls, small_cnn(), metrics=accuracy)
    tr = ImportanceTracker(patch_size=16, budget=None, bs=512, seed=0)
    with new.no_bar(), new.no_logging(): new.fit(1, 1e-3, cbs=tr)
    h = tr.history
    assert set(h.feature) == {'patch_0_0', 'patch_0_1', 'patch_1_0', 'patch_1_1'} and len(h) == 4
    trc = ImportanceTracker(names=['R', 'G', 'B'], budget=None, bs=512, seed=0)
    with new.no_bar(), new.no_logging(): new.fit(1, 1e-3, cbs=trc)
    assert set(trc.history.feature) == {'R', 'G', 'B'}


# ------------------------------------------------------------------ patches
def test_patch_size_that_does_not_divide(fixed):
    "32 px in 12-px patches: rows/columns of 12, 12 and 8 px; every pixel in exactly one patch"
    _, _, learn = fixed
    es = learn.eval_set()
    feats = Grid(learn, es, patch_size=12).features()
    assert list(feats)[:4] == ['patch_0_0', 'patch_0_1', 'patch_0_2', 'patch_1_0'] and len(feats) == 9
    count = np.zeros((32, 32), int)
    for (locs,) in feats.values():
        _, (_, r, c) = locs
        count[r, c] += 1
    assert (count == 1).all()
    assert feats['patch_2_2'][0][1][1:] == (slice(24, 32), slice(24, 32))
    assert len(Grid(learn, es, patch_size=(16, 8)).features()) == 8
    fi = learn.feature_importance(patch_size=12, n_repeats=1, seed=0, bs=512, details=True)
    assert len(fi.frame) == 9
    plot_patch_importance(fi, image=es.xs[0][0].permute(1, 2, 0).clamp(0, 1).numpy())   # a details result places its patches


@pytest.mark.parametrize('bad, match', [(0, 'positive int'), (True, 'positive int'), ('8', 'positive int'), ((8, 0), 'positive int'),
                                        (33, 'larger than the inputs'), ((4, 4, 4), 'has 3 sides')])
def test_bad_patch_size(fixed, bad, match):
    with pytest.raises(ArgumentError, match=match):
        fixed[2].feature_importance(patch_size=bad, bs=512)


def test_patch_size_on_non_image_learner():
    with pytest.raises(ArgumentError, match='one batch of images'):
        tiny().feature_importance(patch_size=4)


def _no_attrs(d):
    d = d.copy(); d.attrs = {}; return d


def test_plot_patch_importance_needs_placement(fixed):
    imgs, _, learn = fixed
    fi = learn.feature_importance(patch_size=12, n_repeats=1, seed=0, bs=512)
    fct.test_eq(fi.attrs['patch_size'], 12)
    plot_patch_importance(fi, image=imgs[0])                         # placed from the table's attrs
    with pytest.raises(ArgumentError, match='pass patch_size='):
        plot_patch_importance(_no_attrs(fi), image=imgs[0])           # a table whose attrs were lost
    with pytest.raises(ArgumentError, match='4x4 grid'):
        plot_patch_importance(fi, image=imgs[0], patch_size=8)
    plot_patch_importance(fi)                                        # the grid alone needs no placement
    with pytest.raises(ArgumentError, match='no patch_'):
        plot_patch_importance(learn.feature_importance(names=list('RGB'), n_repeats=1, bs=512))


# ------------------------------------------------------------------ inputs and results
def test_inputs_like_predict(sq, cnn):
    "Every form predict takes gives the same input and the same probability as predict"
    imgs = sq[0]
    with cnn.no_bar(): p = float(cnn.predict(imgs[3])[2][1])
    for o in [imgs[3], PILImage.create(imgs[3]), torch.tensor(imgs[3]), torch.tensor(imgs[3]).permute(2, 0, 1),
              torch.tensor(imgs[3]).permute(2, 0, 1).float() / 255, imgs[3] / 255., imgs[3].transpose(2, 0, 1),
              imgs[3].transpose(2, 0, 1) / 255., imgs[3].astype(np.int64)]:
        e = cnn.explain(o)
        assert e.map.shape == (32, 32)
        fct.test_close(e.frame.probability[0], p, eps=1e-5)


def test_other_size_is_resized_as_predict():
    "An image of another size goes through the dls' Resize, as in predict, and gets predict's probabilities"
    set_seed(0, reproducible=True)
    imgs, labels, _ = square_images(64, size=40, seed=2)
    dls = image_dls(imgs, labels, bs=16, item_tfms=Resize(32), device='cpu')
    learn = Learner(dls, small_cnn(), metrics=accuracy)
    big = square_images(1, size=56, p=1, seed=3)[0][0]
    with learn.no_bar(): p = learn.predict(big)[2]
    e = learn.explain(big, method='occlusion')
    assert e.map.shape == (32, 32) and e.frame.attrs['image_size'] == [32, 32] and e.image.shape == (32, 32, 3)
    fct.test_close(e.frame.probability[0], float(p[1]), eps=1e-5)


def test_dataloader_and_batch_inputs(sq, cnn):
    e = cnn.explain(cnn.dls.valid)
    assert e.map.shape == (len(cnn.dls.valid_ds), 32, 32)
    vocab = list(cnn.dls.vocab)
    assert e.frame.actual.tolist() == [vocab[int(y)] for y in sq[1][np.array(cnn.dls.valid.items)]]
    x, y = cnn.dls.valid.one_batch()
    eb = cnn.explain((x[:5], y[:5]))
    np.testing.assert_allclose(eb.map, e.map[:5], atol=1e-5)
    et = cnn.explain(x[:5])                                   # a 4-d tensor: model input, no labels
    assert et.frame.actual.isna().all() and et.map.shape == (5, 32, 32)


def test_targets(sq, cnn):
    imgs, labels = sq[0], sq[1]
    xs = list(imgs[:6])
    assert (cnn.explain(xs).frame.target == '1').all()               # binary: the positive class
    e0 = cnn.explain(xs, target='0')
    assert (e0.frame.target == '0').all()
    np.testing.assert_allclose(e0.frame.probability + cnn.explain(xs).frame.probability, 1, atol=1e-5)
    np.testing.assert_allclose(cnn.explain(xs, target=0).map, e0.map)
    with pytest.raises(ArgumentError, match='Unknown target'):
        cnn.explain(xs, target='cat')


def test_result_pickles_and_frame_survives_pandas(sq, cnn):
    e = cnn.explain(list(sq[0][:3]), method='occlusion')
    e2 = pickle.loads(pickle.dumps(e))
    assert type(e2) is ImageExplanation and np.array_equal(np.asarray(e2), e.map)
    assert e2.frame.attrs == e.frame.attrs
    f = e.frame.copy().sort_values('probability').reset_index()      # plain attrs: pandas copies and compares them
    assert f.attrs['method'] == 'occlusion'
    assert len(f.merge(pd.DataFrame({'index': [0, 1, 2], 'x': 1}), on='index')) == 3
    assert len(pd.concat([e.frame, e2.frame])) == 6 and e.frame.equals(e2.frame)
    assert np.asarray(e, dtype=np.float64).dtype == np.float64
    assert e.input.shape == (3, 3, 32, 32) and e.image.shape == (3, 32, 32, 3) and 'layer_map' not in e


def test_layer_by_name_and_module(cnn, sq):
    e = cnn.explain(sq[0][0], layer='2')
    assert e.frame.attrs['layer'] == '2' and e.frame.attrs['layer_size'] == [16, 16] and e.layer_map.shape == (16, 16)
    np.testing.assert_allclose(cnn.explain(sq[0][0], layer=cnn.model[2]).map, e.map)
    with pytest.raises(ArgumentError, match='Did you mean'):
        cnn.explain(sq[0][0], layer='22')
    with pytest.raises(ArgumentError, match='not part of this model'):
        cnn.explain(sq[0][0], layer=nn.Conv2d(3, 3, 1))


def test_frozen_model_same_map(cnn, sq):
    "No parameter requires a gradient: the map is the same, and requires_grad stays False"
    e = cnn.explain(sq[0][:3])
    flags = [p.requires_grad for p in cnn.model.parameters()]
    try:
        for p in cnn.model.parameters(): p.requires_grad_(False)
        ef = cnn.explain(sq[0][:3])
        ei = cnn.explain(sq[0][:3], method='integrated_gradients', n_steps=4)
        assert not any(p.requires_grad for p in cnn.model.parameters())
    finally:
        for p, f in zip(cnn.model.parameters(), flags): p.requires_grad_(f)
    np.testing.assert_allclose(ef.map, e.map, atol=1e-6)
    assert np.abs(ei.map).sum() > 0


def test_grey_images():
    set_seed(0, reproducible=True)
    imgs, labels, _ = square_images(48, size=32, seed=4)
    grey = imgs[..., 0]
    learn = Learner(image_dls(grey, labels, bs=16, device='cpu'), small_cnn(1), metrics=accuracy)
    e = learn.explain(grey[0])
    assert e.input.shape == (1, 32, 32) and e.image.shape == (32, 32, 1)
    np.testing.assert_allclose(learn.explain(imgs[0]).input, learn.explain(np.asarray(PILImage.create(imgs[0]).convert('L'))).input)
    plot_image_explanation(e)


# ------------------------------------------------------------------ errors
def test_errors(cnn, sq):
    img = sq[0][0]
    with pytest.raises(ArgumentError, match="Unknown method 'shap'"):
        cnn.explain(img, method='shap')
    with pytest.raises(ArgumentError, match="n_steps is not used by method='gradcam'"):
        cnn.explain(img, n_steps=10)
    with pytest.raises(ArgumentError, match='window=40 is larger'):
        cnn.explain(img, method='occlusion', window=40)
    with pytest.raises(ArgumentError, match='output must be one of'):
        cnn.explain(img, output='logit')
    with pytest.raises(ArgumentError, match=r'values in \[0,1\]'):
        cnn.explain(torch.rand(3, 32, 32) * 3)
    with pytest.raises(ArgumentError, match='baseline tensor'):
        cnn.explain(img, method='integrated_gradients', baseline=torch.zeros(3, 8, 8))


def test_no_conv_layer_names_layer_argument(sq):
    mlp = Learner(sq[3], nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 2)))
    with pytest.raises(ArgumentError, match='layer='):
        mlp.explain(sq[0][0])
    assert mlp.explain(sq[0][0], method='integrated_gradients', n_steps=4).map.shape == (32, 32)


def test_plain_learner_on_tabular_data_is_explained_as_rows():
    "The dispatcher reads the kind of input from the data, not the Learner's class: a plain Learner on tabular DataLoaders"
    learn = tiny()
    plain = Learner(learn.dls, learn.model)                   # a plain Learner on tabular data
    rows = learn.dls.valid.dataset.items.iloc[:2]
    a, b = plain.explain(rows, seed=0), learn.explain(rows, seed=0)
    fct.test_eq(list(a.feature), list(b.feature))
    np.testing.assert_allclose(a.contribution, b.contribution, rtol=1e-6, atol=1e-7)   # the same model, rows, walks


# ------------------------------------------------------------------ side effects
def _state(learn):
    m = learn.model
    return dict(w={k: v.detach().clone() for k, v in m.state_dict().items()},
                g=[None if p.grad is None else p.grad.clone() for p in m.parameters()],
                rg=[p.requires_grad for p in m.parameters()], modes=[x.training for x in m.modules()])


def _no_hooks(model):
    return all(not (x._forward_hooks or x._forward_pre_hooks or x._backward_hooks or getattr(x, '_backward_pre_hooks', None))
               for x in model.modules())


@pytest.mark.parametrize('kw', [dict(), dict(method='occlusion', window=8, stride=8), dict(method='integrated_gradients', n_steps=4),
                                dict(noise_tunnel=True, nt_samples=2)], ids=['gradcam', 'occlusion', 'ig', 'noise_tunnel'])
def test_nothing_the_user_owns_changes(sq, kw):
    set_seed(0, reproducible=True)
    learn = Learner(sq[3], small_cnn(), metrics=accuracy)
    learn.model.train(); learn.model[2].eval()                   # mixed modes
    learn.model[0][0].weight.requires_grad_(False)              # one frozen weight
    learn.model(torch.randn(2, 3, 32, 32)).sum().backward()     # existing gradients (BN stats move here, before the snapshot)
    x = image_input(learn, list(sq[0][:3]))[0]
    x0 = x.clone()
    before, rng = _state(learn), rng_states()
    e = learn.explain(x, **kw)
    after = _state(learn)
    assert same_rng(rng, rng_states())
    assert all(torch.equal(before['w'][k], after['w'][k]) for k in before['w'])
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(before['g'], after['g']))
    assert before['rg'] == after['rg'] and before['modes'] == after['modes']
    assert torch.equal(x, x0) and not x.requires_grad
    assert _no_hooks(learn.model) and e.map.shape == (3, 32, 32)


class Boom(nn.Module):
    "Raises when it sees an input that requires a gradient: only during attribution, after the hooks are on"
    def forward(self, x):
        if x.requires_grad: raise RuntimeError('boom')
        return x


@pytest.mark.parametrize('kw', [dict(), dict(method='integrated_gradients', n_steps=4)], ids=['gradcam', 'ig'])
def test_hooks_removed_when_attribution_raises(sq, kw):
    set_seed(0, reproducible=True)
    m = small_cnn()
    model = nn.Sequential(*list(m)[:6], Boom(), *list(m)[6:])   # Boom after the last ConvLayer
    for p in model.parameters(): p.requires_grad_(False)          # so Boom only fires on the attribution's own inputs
    learn = Learner(sq[3], model)
    learn.model.train()
    with pytest.raises(RuntimeError, match='boom'):
        learn.explain(sq[0][:2], **kw)
    assert _no_hooks(learn.model)
    assert all(x.training for x in learn.model.modules())


# ------------------------------------------------------------------ plots
def test_plots(sq, cnn):
    e = cnn.explain(sq[0][:3], method='occlusion')
    ax = plot_image_explanation(e, 1)
    assert ax.get_title().startswith('pred')
    with pytest.raises(ArgumentError, match='pass i='):
        plot_image_explanation(e)
    fig = plot_image_explanations(cnn, n=4)
    assert len([a for a in fig.axes if a.images]) == 4
    assert 'actual' in fig.axes[0].get_title()
    fig = plot_image_explanations(e)
    assert len([a for a in fig.axes if a.images]) == 3
    with pytest.raises(ArgumentError, match='arguments of learn.explain'):
        plot_image_explanations(e, method='gradcam')


# ------------------------------------------------------------------ inputs fastai itself fails on (issue 18)
def test_images_of_different_sizes_name_the_fix(cnn):
    "Without a Resize, images of two sizes can't make one batch: fastinterp's message, not fastai's collate error"
    a, b = np.zeros((24, 40, 3), np.uint8), np.zeros((48, 48, 3), np.uint8)
    with pytest.raises(ArgumentError, match=r'sizes \[\(24, 40\), \(48, 48\)\] before them.*add a `Resize`'):
        cnn.explain([a, b])


def test_lazily_opened_image(tmp_path, sq, cnn):
    "PIL.Image.open(path) reads the pixels only when asked: it is loaded first, and gives the same map as the array"
    import PIL.Image
    p = tmp_path/'img.png'; PIL.Image.fromarray(sq[0][3]).save(p)
    np.testing.assert_allclose(cnn.explain(PIL.Image.open(p)).map, cnn.explain(sq[0][3]).map, atol=1e-6)


def test_chw_uint8_array_like_chw_tensor(cnn, sq):
    "A CxHxW uint8 array is read as the CxHxW tensor is (PIL alone can't read it), and an image of 2 channels is refused"
    img = sq[0][5]
    a, t = image_input(cnn, img.transpose(2, 0, 1))[0], image_input(cnn, torch.tensor(img).permute(2, 0, 1))[0]
    fct.test_close(a, t, eps=1e-6)                       # the same pixels through the same pipeline
    fct.test_close(a, image_input(cnn, img)[0], eps=1e-6)
    with pytest.raises(ArgumentError, match='1, 3 or 4 channels'):
        cnn.explain(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(ArgumentError, match='pixel values 0-255'):
        cnn.explain(img.astype(np.int64) * 3)


def test_float_arrays_must_be_in_unit_range(cnn, sq):
    "A float tensor and a float array of 0-255 are refused alike (both look like pixels already scaled, or normalised input)"
    for x in (torch.tensor(sq[0][0]).float(), sq[0][0].astype(np.float32)):
        with pytest.raises(ArgumentError, match=r'values in \[0,1\]'): cnn.explain(x)


# ------------------------------------------------------------------ transformers: layer= read as the rule reads it (issue 25)
def tiny_transformer(kind):
    "(Learner, inputs) for a timm Swin (two stages, 56 px) or ViT (8-px patches, 32 px) built from config: no download"
    timm = pytest.importorskip('timm')
    from fastai.data.core import DataLoaders
    from fastai.data.load import DataLoader
    torch.manual_seed(0)
    if kind == 'swin':
        m, size = timm.create_model('swin_tiny_patch4_window7_224', pretrained=False, img_size=56, embed_dim=16, depths=(1, 1),
                                    num_heads=(1, 2), num_classes=2), 56
    else:
        m, size = timm.create_model('vit_tiny_patch16_224', pretrained=False, img_size=32, patch_size=8, embed_dim=16, depth=2,
                                    num_heads=2, num_classes=2), 32
    x, y = torch.randn(8, 3, size, size), torch.arange(8) % 2
    dls = DataLoaders(DataLoader(list(zip(x, y)), bs=4), DataLoader(list(zip(x, y)), bs=4))
    return Learner(dls, m, loss_func=CrossEntropyLossFlat()), x[:3]


@pytest.mark.parametrize('kind, auto, shape', [('swin', 'layers.1', [7, 7]), ('vit', 'blocks.1.norm1', [4, 4])])
def test_transformer_layer_by_name_is_read_like_the_rule(kind, auto, shape):
    "layer='<the rule's choice>' and layer=<that module> give the rule's map (a Swin's NHWC stage was read as NCHW before)"
    learn, x = tiny_transformer(kind)
    e = learn.explain(x)
    assert e.frame.attrs['layer'] == auto and e.frame.attrs['layer_size'] == shape
    for layer in (auto, learn.model.get_submodule(auto)):
        el = learn.explain(x, layer=layer)
        # the same computation as layer=None once the layer is resolved; the tolerance only absorbs nondeterministic kernels
        np.testing.assert_allclose(el.map, e.map, rtol=1e-6, atol=1e-7 * np.abs(e.map).max())
        assert el.frame.attrs['layer_size'] == shape


@pytest.mark.parametrize('kind, layer, match', [('swin', 'head', r"its choice here is 'layers\.1'.*'layers\.1', 'layers', 'norm'"),
                                                ('vit', 'head', r"its choice here is 'blocks\.1\.norm1'.*'blocks\.0', 'blocks\.1\.norm1'\."),
                                                ('vit', 'norm', 'reads only the class token'),
                                                ('swin', 'layers.0.blocks.0.attn', 'is not a map of the input')])
def test_transformer_layer_that_cannot_work_names_what_does(kind, layer, match):
    learn, x = tiny_transformer(kind)
    with pytest.raises(ArgumentError, match=match):
        learn.explain(x, layer=layer)


@pytest.mark.parametrize('kind', ['swin', 'vit'])
def test_transformer_gradcam_matches_pytorch_grad_cam(kind):
    """The map at the rule's layer equals pytorch-grad-cam's GradCAM with the reshape_transform its docs give (ViT: drop
    the class token, tokens to the grid; timm's Swin: NHWC to NCHW), on the raw logit, after its own min-max scaling
    and cv2 resize"""
    pgc = pytest.importorskip('pytorch_grad_cam')
    import cv2
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    learn, x = tiny_transformer(kind)
    e = learn.explain(x, target=1, output='raw')
    n, size = len(x), x.shape[-1]
    reshape = (lambda t: t.permute(0, 3, 1, 2)) if kind == 'swin' else (lambda t: t[:, 1:].reshape(len(t), 4, 4, -1).permute(0, 3, 1, 2))
    with pgc.GradCAM(model=learn.model, target_layers=[learn.model.get_submodule(e.frame.attrs['layer'])],
                     reshape_transform=reshape) as cam:
        ref = cam(input_tensor=x, targets=[ClassifierOutputTarget(1)] * n)

    def scale(a): a = a - a.min((1, 2), keepdims=True); return a / (1e-7 + a.max((1, 2), keepdims=True))
    mine = scale(np.stack([cv2.resize(scale(e.layer_map)[i], (size, size)) for i in range(n)]))   # pytorch-grad-cam's steps
    np.testing.assert_allclose(mine, ref, atol=1e-5)       # float32 on [0,1]: the two sum the channels in different orders
