"""Execute the notebooks in nbs/ in place, so the committed docs show their outputs (tables, plots).
Warnings (stderr) and progress bars are dropped: they are noise in docs. Printed lines are kept as a terminal shows
them (fastai's epoch table, for one, is printed between progress bars). Run `nbdev-clean` afterwards.
Usage: python tools/run_nbs.py [notebook ...]   (default: every notebook in nbs/)"""
import os, re, sys
from pathlib import Path
from fastcore.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

nbs = Path(__file__).resolve().parent.parent/'nbs'


_BAR = re.compile(r'█|^\s*Epoch \d+/\d+ :|\|[-█]+\| *\d')


def _shown(text:str) -> str:
    "What a terminal shows of `text`: each line's last carriage-return segment, progress bars and warnings left out"
    keep = []
    for line in text.split('\n'):
        segs = [s for s in line.split('\r') if s.strip()]
        if segs and not _BAR.search(segs[-1]) and 'Warning' not in segs[-1]: keep.append(segs[-1].rstrip())
    return '\n'.join(keep) + ('\n' if keep else '')


def _clean(outputs):
    res = []
    for o in outputs:
        if o.get('output_type') == 'stream':
            if o.get('name') == 'stderr': continue
            text = _shown(''.join(o.get('text', '')))
            if not text: continue
            o['text'] = text
        res.append(o)
    return res


def run(path):
    nb = read_nb(path)
    CaptureShell().run_all(nb, exc_stop=True)
    for c in nb.cells:
        if c.cell_type == 'code': c['outputs'] = _clean(c.get('outputs', []))
    write_nb(nb, path)


if __name__ == '__main__':
    os.chdir(nbs)
    for p in (sys.argv[1:] or sorted(str(p) for p in nbs.glob('*.ipynb'))):
        print('running', p); run(Path(p).resolve())
