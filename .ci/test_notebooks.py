"""Run the notebooks' code cells the way `nbdev-test` does, for environments where nbdev can't be installed.

`.ci/floors` needs it: nbdev 3.3 requires fastcore>=2.1.3, and fastai 2.8.1-2.8.5 require fastcore<1.9. Each
notebook runs in a fresh IPython shell (as nbdev's execnb does), two at a time in worker processes, with the
notebook's folder as the working directory, the repository on sys.path and IN_TEST=1; cells flagged with one of
pyproject's `tst_flags` (e.g. `#| slow`) and `#| eval: false` cells are skipped, as nbdev-test skips them.
Usage: python .ci/test_notebooks.py [notebook ...]     (default: every notebook under nbs/, two at a time)"""
import os, re, sys, time
from pathlib import Path

root = Path(__file__).resolve().parents[1]


def nbdev_setting(key, default):
    "A string value from pyproject.toml's [tool.nbdev] (a plain read, so it needs no toml library on Python 3.10)"
    txt = (root/'pyproject.toml').read_text(encoding='utf-8')
    sec = re.search(r'^\[tool\.nbdev\]\s*$(.*?)(?=^\[|\Z)', txt, re.M | re.S)
    m = sec and re.search(rf'^{key}\s*=\s*"([^"]*)"', sec.group(1), re.M)
    return m.group(1) if m else default


def skipped(src, flags):
    "Whether nbdev-test leaves this code cell out"
    dirs = {m.group(1).lower(): m.group(2).strip() for m in re.finditer(r'^\s*#\s*\|\s*([\w-]+):?(.*)$', src, re.M)}
    return bool(flags & dirs.keys()) or dirs.get('eval', '').lower() == 'false'


def run_one(path):
    "Run one notebook in a fresh IPython shell in this process: (name, None or the failing cell and its traceback, seconds)"
    import contextlib, io, json, traceback
    from IPython.core.interactiveshell import InteractiveShell
    import matplotlib; matplotlib.use('Agg')
    t, path = time.time(), Path(path).resolve()
    flags = set(nbdev_setting('tst_flags', 'notest').split())
    os.chdir(path.parent); os.environ['IN_TEST'] = '1'
    if str(root) not in sys.path: sys.path.insert(0, str(root))
    main = sys.modules['__main__']      # IPython puts its own namespace there; the pool needs ours back for the next task
    InteractiveShell.clear_instance()   # a fresh namespace per notebook; the singleton, so that display() works
    shell, out = InteractiveShell.instance(), io.StringIO()
    try:
        for i, cell in enumerate(json.loads(path.read_text(encoding='utf-8'))['cells']):
            if cell['cell_type'] != 'code': continue
            src = ''.join(cell['source'])
            if skipped(src, flags): continue
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out): res = shell.run_cell(src, silent=True)
            if not res.success:
                e = res.error_in_exec or res.error_before_exec
                tb = ''.join(traceback.format_exception(type(e), e, e.__traceback__))
                return path.name, f'code cell {i} failed:\n{src}\n{tb}\n(cell output, last 2000 chars:)\n{out.getvalue()[-2000:]}', time.time()-t
        return path.name, None, time.time()-t
    finally:
        sys.modules['__main__'] = main
        import matplotlib.pyplot as plt; plt.close('all')


def run_all(paths, workers=2):
    "The notebooks in `workers` long-lived processes (imports are paid once per process, as nbdev-test does); the failed ones"
    from concurrent.futures import ProcessPoolExecutor
    os.environ.setdefault('OMP_NUM_THREADS', '1')   # one torch thread per worker: with more, the workers' threads spin against each other
    failed = []
    with ProcessPoolExecutor(workers) as ex:
        for name, err, secs in ex.map(run_one, paths):
            print(f'{"ok  " if err is None else "FAIL"} {name} ({secs:.0f}s)', flush=True)
            if err: print(err, flush=True); failed.append(name)
    return failed


if __name__ == '__main__':
    nbs = root/nbdev_setting('nbs_path', 'nbs')
    paths = [Path(p).resolve() for p in sys.argv[1:]] or sorted(
        p for p in nbs.rglob('*.ipynb') if not re.match(r'[_.]', p.name) and '.ipynb_checkpoints' not in p.parts)
    t = time.time()
    failed = run_all(paths, workers=min(2, os.cpu_count() or 1))
    print(f'{len(paths)-len(failed)} of {len(paths)} notebooks passed in {time.time()-t:.0f}s' + (f'; failed: {failed}' if failed else ''))
    raise SystemExit(1 if failed else 0)
