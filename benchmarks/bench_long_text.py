"""Time and peak extra memory of `learn.explain(note)` on a 2000-word note with a default-size AWD_LSTM classifier (untrained).

Each configuration runs in a fresh subprocess: it builds the learner, runs one `learn.predict` on the note (warm-up,
so lazily allocated buffers are not counted), then samples RSS every 5 ms in a thread while `learn.explain` runs.
Peak extra = max sampled RSS - RSS just before the call (also reported: ru_maxrss delta, which is only meaningful if
the call exceeds the earlier high-water mark).

Usage: python benchmarks/bench_long_text.py [--threads N] [--ibs auto,1,2] [--n-steps 50] [--words 2000] [--no-carry] [--mmap-threshold 131072]
       python benchmarks/bench_long_text.py --child IBS ...   (internal)

The time grows linearly with --n-steps (every step is one forward and backward pass over the whole note); the peak
memory does not (one step per pass at this length).
"""
import argparse, json, os, subprocess, sys, time, threading, resource

def note(n_words=2000, seed=0):
    "A clinical-looking note of `n_words` random filler words in sentences (capitalised, full stops)"
    import numpy as np
    from fastinterp.synth import TEXT_FILLER
    extra = ('blood pressure stable medication given family visited doctor review morning evening sleep fluids '
             'walked ward chart noted plan continue monitoring comfortable').split()
    vocab = TEXT_FILLER + extra
    rng = np.random.default_rng(seed)
    words, out = 0, []
    while words < n_words:
        k = int(min(rng.integers(6, 16), n_words-words))
        s = list(rng.choice(vocab, k)); s[0] = s[0].capitalize()
        out.append(' '.join(s) + '.'); words += k
    return ' '.join(out)

def build_learner():
    from fastai.text.all import (DataBlock, TextBlock, CategoryBlock, ColReader, RandomSplitter, text_classifier_learner,
                                 AWD_LSTM, set_seed)
    from fastinterp.synth import synth_text_df
    set_seed(0)
    df = synth_text_df(200)
    blk = DataBlock(blocks=(TextBlock.from_df('text', n_workers=0), CategoryBlock), get_x=ColReader('text'),
                    get_y=ColReader('label'), splitter=RandomSplitter(0.2, seed=0))
    dls = blk.dataloaders(df, bs=16)
    return text_classifier_learner(dls, AWD_LSTM, pretrained=False, drop_mult=0.1)

def child(args):
    import psutil, torch
    torch.set_num_threads(args.threads)
    import fastinterp.all
    learn = build_learner()
    txt = note(args.words)
    with learn.no_bar(): learn.predict(txt)
    ntok = len(learn.dls.test_dl([txt]).one_batch()[0][0])
    proc = psutil.Process()
    import gc; gc.collect()
    rss0 = proc.memory_info().rss; maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss*1024
    peak, stop = [rss0], threading.Event()
    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss); time.sleep(0.005)
    th = threading.Thread(target=sample, daemon=True); th.start()
    ru0 = resource.getrusage(resource.RUSAGE_SELF); load0 = os.getloadavg()[0]
    t = time.perf_counter()
    ibs = None if args.child=='auto' else int(args.child)
    r = learn.explain(txt, n_steps=args.n_steps, internal_batch_size=ibs, carry_grad=not args.no_carry)
    dt = time.perf_counter()-t
    ru1 = resource.getrusage(resource.RUSAGE_SELF); cpu = (ru1.ru_utime+ru1.ru_stime)-(ru0.ru_utime+ru0.ru_stime)
    stop.set(); th.join()
    maxrss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss*1024
    a = r['attribution'].to_numpy()
    print(json.dumps(dict(ibs=r.attrs['internal_batch_size'], requested=args.child, tokens=ntok, words=args.words,
        n_steps=args.n_steps, threads=args.threads, carry_grad=not args.no_carry, malloc_mmap_threshold=os.environ.get('MALLOC_MMAP_THRESHOLD_'), seconds=round(dt, 1), cpu_seconds=round(cpu, 1), load1_before=load0, load1_after=os.getloadavg()[0],
        rss_before_mb=round(rss0/2**20), peak_extra_mb=round((peak[0]-rss0)/2**20),
        ru_maxrss_delta_mb=round(max(0, maxrss1-maxrss0)/2**20), delta=r.attrs['convergence_delta'],
        fx_minus_fb=r.attrs['prediction']-r.attrs['base_value'], zero_attr_tokens=int((a==0).sum()))), flush=True)

if __name__ == '__main__':
    p = argparse.ArgumentParser()
    p.add_argument('--child'); p.add_argument('--threads', type=int, default=1); p.add_argument('--ibs', default='auto')
    p.add_argument('--n-steps', type=int, default=50); p.add_argument('--words', type=int, default=2000)
    p.add_argument('--no-carry', action='store_true')
    p.add_argument('--mmap-threshold', type=int, default=None, help='run the child with MALLOC_MMAP_THRESHOLD_=N (glibc)')
    args = p.parse_args()
    if args.child: child(args)
    else:
        for ibs in args.ibs.split(','):
            cmd = [sys.executable, __file__, '--child', ibs, '--threads', str(args.threads), '--n-steps', str(args.n_steps),
                   '--words', str(args.words)] + (['--no-carry'] if args.no_carry else [])
            env = dict(os.environ)
            if args.mmap_threshold: env['MALLOC_MMAP_THRESHOLD_'] = str(args.mmap_threshold)
            out = subprocess.run(cmd, capture_output=True, text=True, env=env)
            lines = [l for l in out.stdout.splitlines() if l.startswith('{')]
            print(lines[-1] if lines else f'ibs={ibs} FAILED rc={out.returncode}\n{out.stderr[-3000:]}', flush=True)
