"""Which layer should Grad-CAM look at by default? Localisation measured on images with a known answer.

Task: uniform-noise RGB images; class 1 carries a white square (side 3/16 of the image) placed at random inside one
of the four quadrants. Each model is trained here from scratch (no pretrained weights) on that task, then Grad-CAM
explains class 1 on the held-out class-1 images at the layer each candidate rule picks; a map *localises* when its
strongest quadrant (the largest sum of the upsampled map) is the square's. An all-zero map, or a constant one (a 1x1
layer), counts as a miss.

Candidate rules (`find_layer(model, x, min_size=k)`: the last convolutional layer whose map is at least k x k,
else the largest map): k = 1 (the last conv layer whatever its size), 2, 4, 7.

Occlusion (the default window, an eighth of the side) explains the first 30 of those images at 32 and 64 px, as a
reference that needs no layer: where it localises and Grad-CAM does not, the layer (or Grad-CAM) is to blame, not the model.

Architectures: torchvision resnet18 (`vision_learner(..., pretrained=False)`: body + fastai head), timm
`convnext_atto` (from config, `pretrained=False`), and a plain CNN (`small_cnn` with five conv blocks, four 2x
max-pools, so its last map is 2x2 at 32 px). Sizes 32, 64, 128, 224 px; 224 px uses fewer images and epochs.

CPU only, one torch thread. The whole grid takes hours here (2 cores shared with other work); `--quick` runs one seed
at 32 and 64 px.

    python benchmarks/bench_gradcam_layer.py [--quick] [--seeds 0,1,2] [--sizes 32,64,128,224] [--archs resnet18,convnext_atto,cnn]
    python benchmarks/bench_gradcam_layer.py --from-log benchmarks/bench_gradcam_layer.log     # the table again, from a log
    python benchmarks/bench_gradcam_layer.py --resume old.log     # reuse old.log's results for setups whose plan is unchanged

The trainings are seeded (`set_seed(seed, reproducible=True)`), so a setup run again gives the same line on the same
machine: `--resume` reuses a stopped run's lines (marked `(reused)`) where the plan of that setup has not changed since.
"""
import os, re, sys, time, warnings, platform
import numpy as np, torch
warnings.filterwarnings('ignore')
torch.set_num_threads(1)
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.learner import Learner
from fastai.losses import CrossEntropyLossFlat
from fastai.metrics import accuracy
from fastai.vision.all import vision_learner, resnet18, set_seed
from fastinterp.all import *
from fastinterp.synth import small_cnn


def _arg(name, default): return sys.argv[sys.argv.index(name)+1] if name in sys.argv else default

QUICK = '--quick' in sys.argv
SEEDS = [int(s) for s in _arg('--seeds', '0' if QUICK else '0,1,2').split(',')]
SIZES = [int(s) for s in _arg('--sizes', '32,64' if QUICK else '32,64,128,224').split(',')]
ARCHS = _arg('--archs', 'resnet18,convnext_atto,cnn').split(',')
RULES = {'last conv (any size)': 1, '>= 2x2': 2, '>= 4x4': 4, '>= 7x7': 7}
# size -> (images, epochs, batch size): fewer at 224 px, where a training costs minutes on one CPU thread
PLAN = {32: (480, 6, 32), 64: (480, 6, 32), 128: (320, 5, 32), 224: (200, 5, 20)}
# convnext_atto overfits the training images of PLAN (validation accuracy 0.6 at 32 px, 0.76 at 128): three times more
MORE = {('convnext_atto', 32): 1200, ('convnext_atto', 128): 960, ('convnext_atto', 224): 600,
        ('cnn', 224): 600}            # the plain CNN at 224 px: validation accuracy 0.58 on 150 training images
OCCLUSION_SIZES, OCCLUSION_N = (32, 64), 30   # occlusion as a reference where it is cheap: 30 class-1 images


def quadrant_squares(n, size, seed):
    "(x [n,3,H,W] normalised, labels [n], quadrant of the square [n], -1 for class 0)"
    rng = np.random.default_rng(seed)
    x = rng.random((n, 3, size, size), dtype=np.float32)
    y = (np.arange(n) % 2).astype(np.int64)
    rng.shuffle(y)
    sq, half = max(4, size*3//16), size//2
    quad = np.full(n, -1)
    for i in np.flatnonzero(y):
        q = int(rng.integers(4)); quad[i] = q
        r0, c0 = (q//2)*half, (q % 2)*half
        r, c = r0 + int(rng.integers(0, half-sq+1)), c0 + int(rng.integers(0, half-sq+1))
        x[i, :, r:r+sq, c:c+sq] = 1.
    return torch.tensor((x-0.5)/0.29), torch.tensor(y), quad


def model_for(arch, dls):
    if arch == 'resnet18': return vision_learner(dls, resnet18, pretrained=False, n_out=2, loss_func=CrossEntropyLossFlat(),
                                                 metrics=accuracy)
    if arch == 'convnext_atto':
        import timm
        m = timm.create_model('convnext_atto', pretrained=False, num_classes=2)
    else: m = small_cnn(nf=(16, 32, 64, 64, 128))
    return Learner(dls, m, loss_func=CrossEntropyLossFlat(), metrics=accuracy)


def strongest_quadrant(m):
    "Index (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of the quadrant with the largest sum; -1: no single one"
    h, w = m.shape[0]//2, m.shape[1]//2
    s = np.sort(q := np.array([m[:h, :w].sum(), m[:h, w:].sum(), m[h:, :w].sum(), m[h:, w:].sum()], dtype=np.float64))
    return -1 if s[-1] <= 0 or s[-1]-s[-2] <= 1e-6*s[-1] else int(np.argmax(q))   # empty or constant (a 1x1 layer): no answer


def run(arch, size, seed):
    n, epochs, bs = plan_of(arch, size)
    x, y, quad = quadrant_squares(n, size, seed)
    k = int(n*0.75)
    set_seed(seed, reproducible=True)
    dls = DataLoaders(DataLoader(list(zip(x[:k], y[:k])), bs=bs, shuffle=True), DataLoader(list(zip(x[k:], y[k:])), bs=64))
    learn = model_for(arch, dls)
    t = time.perf_counter()
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(epochs, 1e-2)
    with learn.no_bar(): acc = float(learn.validate()[1])
    secs = time.perf_counter()-t
    v1 = np.flatnonzero(y[k:].numpy() == 1)
    xv, qv = x[k:][v1], quad[k:][v1]
    out, by_layer = {}, {}
    for rule, ms in RULES.items():
        cl = find_layer(learn.model, xv[:1], min_size=ms)
        if cl.name not in by_layer:
            e = learn.explain(xv, layer=cl.name, target=1)
            hits = [strongest_quadrant(m) == q for m, q in zip(e.map, qv)]
            empty = float(np.mean([m.max() <= 0 for m in e.map]))
            by_layer[cl.name] = (float(np.mean(hits)), empty, 'x'.join(map(str, cl.shape[2:])))
        out[rule] = (cl.name, *by_layer[cl.name])
    if size in OCCLUSION_SIZES:             # the same model and images, by a method that needs no layer: is it the model or Grad-CAM?
        e = learn.explain(xv[:OCCLUSION_N], method='occlusion', target=1)
        out['occlusion'] = ('-', float(np.mean([strongest_quadrant(m) == q for m, q in zip(e.map, qv)])), 0., 'window ' + str(e.frame.attrs['window']))
    return acc, secs, len(v1), out


LINE = re.compile(r"^(?:\(reused\) )?(\S+)\s+(\d+)px seed (\d+)  acc ([\d.]+) .*?class-1 images  (.*)$")
PLAN_LINE = re.compile(r"^# plan \(size: images, epochs, bs\): (\{.*?\}), images (\{.*?\}); rules")
CELL = re.compile(r"^(.*?): (\S+) \((.+?)\) ([\d.]+)(?: empty ([\d.]+))?$")

def parse(lines):
    "The rows (arch, size, seed, acc, rule, layer, map size, fraction localised, fraction empty) of a log's result lines"
    rows = []
    for line in lines:
        m = LINE.match(line.strip())
        if not m: continue
        for cell in m[5].split('  |  '):
            c = CELL.match(cell)
            rows.append((m[1], int(m[2]), int(m[3]), float(m[4]), c[1], c[2], c[3], float(c[4]), float(c[5] or 0)))
    return rows


def table(rows, min_acc=0.9):
    "Markdown table: mean (min) fraction localised per architecture, size and rule, over trainings with accuracy >= min_acc"
    archs = list(dict.fromkeys(r[0] for r in rows))
    sizes = sorted({r[1] for r in rows})
    out = [f'# mean fraction localised over the seeds (min over seeds), trainings with validation accuracy >= {min_acc} only',
           '| architecture | size | ' + ' | '.join(RULES) + ' | occlusion (reference) | trainings used / run |', '|---|---|' + '---|'*(len(RULES)+2)]
    for arch in archs:
        for size in sizes:
            run = {r[2] for r in rows if r[0] == arch and r[1] == size}
            if not run: continue
            ok = [r for r in rows if r[0] == arch and r[1] == size and r[3] >= min_acc]
            cells = []
            for rule in [*RULES, 'occlusion']:
                rr = [r for r in ok if r[4] == rule]
                cells.append(f"{np.mean([r[7] for r in rr]):.2f} ({min(r[7] for r in rr):.2f}) {rr[0][6]}" if rr else '-')
            out.append(f"| {arch} | {size} | " + ' | '.join(cells) + f" | {len({r[2] for r in ok})} / {len(run)} |")
    return '\n'.join(out)


def plan_of(arch, size, plan=PLAN, more=MORE):
    "(images, epochs, bs) of one setup"
    n, epochs, bs = plan[size]
    return more.get((arch, size), n), epochs, bs


def reusable(log) -> dict:
    "(arch, size, seed) -> result line of an earlier log whose setup had the plan this run has (`--resume LOG`)"
    import ast
    lines, out = open(log).read().splitlines(), {}
    head = next(PLAN_LINE.match(l) for l in lines if PLAN_LINE.match(l))
    plan, more = ast.literal_eval(head[1]), ast.literal_eval(head[2])
    for l in lines:
        m = LINE.match(l.strip())
        if m and plan_of(m[1], int(m[2]), plan, more) == plan_of(m[1], int(m[2])):
            out[m[1], int(m[2]), int(m[3])] = l.strip().removeprefix('(reused) ')
    return out


def main():
    if '--from-log' in sys.argv:                     # the table of a log written earlier (or of a run stopped early)
        print(table(parse(open(_arg('--from-log', None)).read().splitlines()))); return
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  torch {torch.__version__}  CPU capability {torch.backends.cpu.get_cpu_capability()}  "
          f"MKL_CBWR={os.environ.get('MKL_CBWR')}  MKL_ENABLE_INSTRUCTIONS={os.environ.get('MKL_ENABLE_INSTRUCTIONS')}  "
          f"{platform.processor() or platform.machine()}  load {os.getloadavg()[0]:.2f}")
    print(f"# plan (size: images, epochs, bs): {PLAN}, images {MORE}; rules {RULES}")
    old = reusable(_arg('--resume', None)) if '--resume' in sys.argv else {}
    lines = []
    for seed in SEEDS:                      # every setup once before any twice: a partial run is still a table
        for size in SIZES:
            for arch in ARCHS:
                if (arch, size, seed) in old: lines.append('(reused) ' + old[arch, size, seed])   # same setup, same seeds: same numbers
                else:
                    acc, secs, nv, out = run(arch, size, seed)
                    n, epochs, _ = plan_of(arch, size)
                    lines.append(f"{arch:14s} {size:4d}px seed {seed}  acc {acc:.3f}  fit {secs:6.1f}s  {n} images x {epochs} epochs  "
                                 f"{nv} class-1 images  " + '  |  '.join(f"{r}: {l} ({s}) {h:.2f}" + (f" empty {e:.2f}" if e else '')
                                                                         for r, (l, h, e, s) in out.items()))
                print(lines[-1], flush=True)
    print('\n' + table(parse(lines)))
    print(f"# load {os.getloadavg()[0]:.2f}")


if __name__ == '__main__': main()
