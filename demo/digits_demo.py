"""Image explanations on real data: scikit-learn's handwritten digits.

Trains a small CNN on `sklearn.datasets.load_digits` (1,797 digits of 8x8 pixels, upscaled to 32x32, grey; nothing is
downloaded), then writes to OUT (default `out/`):

- `digits_gradcam.png`: Grad-CAM of the predicted class for one validation digit of each class and the errors;
- `digits_occlusion.png`, `digits_ig.png`: the same digits by occlusion and by integrated gradients (with a noise tunnel);
- `digits_patches.png`: region importance (4x4-pixel patches, permuted across the validation digits) over the mean digit.

    python demo/digits_demo.py [OUT]

About a minute on two CPU cores.
"""
import sys, time, warnings
from pathlib import Path
import numpy as np, torch
import matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
from fastai.vision.all import Learner, accuracy, set_seed
from fastinterp.all import *
from fastinterp.synth import image_dls, small_cnn

warnings.filterwarnings('ignore', category=FutureWarning)   # torch.jit deprecation noise from fastai's imports
torch.set_num_threads(1)   # tiny model: more threads only contend on a shared machine


def digits(size=32):
    "sklearn's 8x8 digits (values 0..16) as uint8 grey images upscaled bilinearly to `size`, and their labels"
    from sklearn.datasets import load_digits
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32)[:, None] / 16
    x = torch.nn.functional.interpolate(x, size=(size, size), mode='bilinear', align_corners=False)
    return (x[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy(), d.target


def main(out='out'):
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    set_seed(0, reproducible=True)
    imgs, y = digits()
    dls = image_dls(imgs, y, valid_pct=0.2, bs=64, seed=0, device='cpu')
    learn = Learner(dls, small_cnn(1, 10), metrics=accuracy)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(6, 1e-2)
    with learn.no_bar(): acc = float(learn.validate()[1])
    print(f"trained a small CNN on {len(dls.train_ds)} digits in {time.time()-t0:.0f} s; validation accuracy {acc:.3f}")

    # every validation digit once (cheap with Grad-CAM), then one of each class and the errors
    t = time.time()
    allv = learn.explain(dls.valid)
    f = allv.frame
    wrong = list(np.flatnonzero(f.predicted != f.actual))
    pick = [int(np.flatnonzero(f.actual == str(c))[0]) for c in range(10)]
    pick += [w for w in wrong if w not in pick][:2]
    print(f"Grad-CAM of all {len(f)} validation digits in {time.time()-t:.1f} s (layer {f.attrs['layer']!r}, "
          f"{f.attrs['layer_size'][0]}x{f.attrs['layer_size'][1]}); {len(wrong)} errors")
    xs = torch.tensor(allv.input[pick]); ys = torch.tensor([learn.dls.vocab.o2i[a] for a in f.actual[pick]])
    for method in IMAGE_METHODS:
        t = time.time()
        kw = dict(noise_tunnel=True, seed=0) if method=='integrated_gradients' else {}   # IG's speckle smoothed (SmoothGrad)
        e = learn.explain((xs, ys), method=method, **kw)
        fig = plot_image_explanations(e, n=len(pick), ncols=6)
        fig.savefig(out/f"digits_{'ig' if method=='integrated_gradients' else method}.png", dpi=110)
        plt.close(fig)
        print(f"{method}: {len(pick)} digits in {time.time()-t:.1f} s")

    # which parts of the frame the model relies on across the validation set
    t = time.time()
    with learn.no_bar(): fi = learn.feature_importance(patch_size=4, n_repeats=1, seed=0, bs=256)
    mean_digit = allv.image.mean(0)
    fig, axs = plt.subplots(1, 2, figsize=(9, 4))
    plot_patch_importance(fi, image=mean_digit, patch_size=4, ax=axs[0], annotate=False, title='Patch importance over the mean digit')
    plot_patch_importance(fi, ax=axs[1], title='Patch importance (4x4-px patches)')
    fig.tight_layout(); fig.savefig(out/'digits_patches.png', dpi=110); plt.close(fig)
    top = fi.head(3)
    print(f"patch importance ({len(fi)} patches x 1 repeat on {fi.attrs['n_rows']} digits) in {time.time()-t:.1f} s; top: "
          + ', '.join(f"{r.feature} {r.importance:.3f}" for r in top.itertuples()))
    print(f"wrote {', '.join(sorted(p.name for p in out.glob('digits_*.png')))} to {out}/ in {time.time()-t0:.0f} s")


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'out')
