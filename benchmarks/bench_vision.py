"""Speed of fastinterp's image analyses, each against the plain model work it stands for, measured side by side.

1. Region importance: `learn.feature_importance(patch_size=16, n_repeats=3)` on 1,000 images of 64x64 (16 patches)
   against (F x R + 1) = 49 plain forward passes of the model over the same cached batch, in chunks of the same size.
   Goal: within 1.3x.
2. Grad-CAM of one image, `learn.explain(img)` (the raw image through the input pipeline, the layer found once and
   cached, the prediction and the map from one forward pass), against one forward + backward pass of the model on that
   image (the backward through every parameter and the input). Goal: at most about 2x.

About 8 minutes here under a load of 3 on 2 cores (`--quick`: 200 images, about 2 minutes).

Runs on CPU with one torch thread (the machine is shared); times are medians of interleaved repeats, so a change in
load hits both sides of a ratio alike. Prints the load average from `uptime` before and after.

    python benchmarks/bench_vision.py [--quick] [--bs 256,1024] [--reps 2] [--only region|gradcam]
"""
import os, sys, time, warnings
import numpy as np, torch
warnings.filterwarnings('ignore', category=FutureWarning)
torch.set_num_threads(1)
from fastai.vision.all import Learner, vision_learner, resnet18, set_seed
from fastinterp.all import *
from fastinterp.synth import square_images, image_dls, small_cnn
from fastinterp.vision.inputs import image_input

def _arg(name, default):
    return sys.argv[sys.argv.index(name)+1] if name in sys.argv else default

QUICK = '--quick' in sys.argv
BS = [int(b) for b in _arg('--bs', '256').split(',')]          # rows per forward pass for region importance
REPS = int(_arg('--reps', 1))                                   # interleaved repeats of each side
PARTS = _arg('--only', 'region,gradcam').split(',')


def load(): return ' '.join(f'{v:.2f}' for v in os.getloadavg())


def median_pair(f, g, reps):
    "Median seconds of `f` and of `g`, run alternately `reps` times"
    tf, tg = [], []
    for _ in range(reps):
        t = time.perf_counter(); f(); tf.append(time.perf_counter() - t)
        t = time.perf_counter(); g(); tg.append(time.perf_counter() - t)
    return float(np.median(tf)), float(np.median(tg))


def region_importance(bs, reps):
    set_seed(0)
    n_valid = 200 if QUICK else 1000
    imgs, labels, _ = square_images(int(n_valid / 0.8), size=64, square=10, seed=0)
    dls = image_dls(imgs, labels, valid_pct=0.8, bs=64, device='cpu')
    learn = Learner(dls, small_cnn())
    es = learn.eval_set()                                   # the cached batch: read once, outside the timing
    x, y = es.xs[0], es.ys[0]
    F, R = 16, 3
    model = learn.model.eval()

    def fi():
        with learn.no_bar(): learn.feature_importance(es, patch_size=16, n_repeats=R, seed=0, bs=bs)

    def plain():
        with torch.inference_mode():
            for _ in range(F * R + 1):
                for a in range(0, len(x), bs): model(x[a:a + bs])

    tfi, tpl = median_pair(fi, plain, reps)
    print(f"region importance, {len(x)} images 64x64, {F} patches x {R} repeats, bs={bs}: feature_importance {tfi:.2f} s, "
          f"{F*R+1} plain forward passes {tpl:.2f} s -> ratio {tfi/tpl:.2f} (goal <= 1.3)")
    return tfi / tpl


def gradcam(kind, size):
    set_seed(0)
    imgs, labels, _ = square_images(64, size=size, seed=0)
    dls = image_dls(imgs, labels, bs=16, device='cpu')
    learn = Learner(dls, small_cnn()) if kind == 'small_cnn' else vision_learner(dls, resnet18, pretrained=False)
    model = learn.model
    img = imgs[0]
    t = time.perf_counter(); e = learn.explain(img); first = time.perf_counter() - t   # finds and caches the layer
    x = image_input(learn, img)[0]

    def explain(): learn.explain(img)

    def fwd_bwd():
        xx = x.clone().requires_grad_()
        model.eval()
        out = model(xx)
        out[:, 1].sum().backward()
        model.zero_grad(set_to_none=True)

    state = {k: v.clone() for k, v in model.state_dict().items()}
    tex, tfb = median_pair(explain, fwd_bwd, 5 if QUICK else 15)
    model.load_state_dict(state)
    print(f"Grad-CAM, one {size}x{size} image, {kind} (layer {e.frame.attrs['layer']!r}, {e.frame.attrs['layer_size']}): "
          f"explain {tex*1e3:.1f} ms (first call {first*1e3:.1f} ms, finds the layer), forward+backward {tfb*1e3:.1f} ms "
          f"-> ratio {tex/tfb:.2f} (goal <= ~2)")
    return tex / tfb


if __name__ == '__main__':
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread, CPU; load average before: {load()}")
    ratios = {}
    if 'region' in PARTS:
        for bs in BS: ratios[f'region_bs{bs}'] = region_importance(bs, REPS)
    if 'gradcam' in PARTS:
        for kind, size in [('small_cnn', 64), ('resnet18', 64), ('resnet18', 224)]:
            ratios[f'gradcam_{kind}_{size}'] = gradcam(kind, size)
    print(f"load average after: {load()}")
    print('ratios: ' + ', '.join(f'{k} {v:.2f}' for k, v in ratios.items()))
