"""Execute the notebooks in nbs/ in place, so the committed docs show their outputs (tables, plots).
Progress-bar and warning streams are dropped: they are noise in docs. Run `nbdev-clean` afterwards.
Usage: python tools/run_nbs.py [notebook ...]   (default: every notebook in nbs/)"""
import os, sys
from pathlib import Path
from fastcore.nbio import read_nb, write_nb
from execnb.shell import CaptureShell

nbs = Path(__file__).resolve().parent.parent/'nbs'


def _noise(o):
    if o.get('output_type') != 'stream': return False
    text = ''.join(o.get('text', ''))
    return '█' in text or 'Warning' in text or o.get('name') == 'stderr'


def run(path):
    nb = read_nb(path)
    CaptureShell().run_all(nb, exc_stop=True)
    for c in nb.cells:
        if c.cell_type == 'code': c['outputs'] = [o for o in c.get('outputs', []) if not _noise(o)]
    write_nb(nb, path)


if __name__ == '__main__':
    os.chdir(nbs)
    for p in (sys.argv[1:] or sorted(str(p) for p in nbs.glob('*.ipynb'))):
        print('running', p); run(Path(p).resolve())
