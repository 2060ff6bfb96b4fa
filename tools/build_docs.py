"""Build the documentation site from the executed notebooks: `python tools/build_docs.py` writes `_site/`.

Run it with the project's Python (the one with fastinterp's dev requirements, e.g. `.venv`): it imports nbdev and
fastinterp. The site generator, Sphinx with MyST Markdown and the Furo theme, lives in its own virtual environment,
`.venv-docs`, which this script creates from `docs/requirements.txt` when it is missing (or pass `--sphinx PATH`).
`python tools/check_docs.py` then checks the built site in a real browser.

How a notebook becomes a page (nbdev's rules, applied by nbdev's own processors):
- every `nbs/*.ipynb` not starting with `_` or `.`, in reading order: `index` first, then by numeric prefix; the
  page is named as nbdev names it (`15_importance.ipynb` -> `importance.html`: lower case, numeric prefix dropped);
- the first markdown cell must hold the title: a `# Title` line gives the page title and a `> summary` line its
  summary (nbdev's `- key: value` lines are dropped, anything else in that cell is kept);
- `#| hide`, `#| exporti` and `#| default_exp` cells are not shown; `#| export` cells show no code but, as nbdev's
  `add_show_docs` decides, a rendered `show_doc` (signature, docstring, docments table) for each public function or
  class they define, right after them; `#| exports` cells show the entries, then the code (as nbdev moves them);
  `#| echo: false`, `#| output: false` and `#| include: false` are honoured; explicit `show_doc(x)` cells render
  the same way;
- the API docs come from importing the exported modules (`fastinterp.<default_exp>` first, then the others);
- outputs as committed: PNGs as image files, HTML (DataFrames) as HTML, text as text; matplotlib's `<Axes: ...>`
  reprs are dropped;
- backticked names of the documented API in prose and docstrings (`feature_importance`, `Learner.feature_importance`,
  `learn.partial_dependence('x0')`, `EvalSet`), notebook names (`10_importance`) and module names
  (`fastinterp.importance`) link to the page and entry that documents them, as nbdev's `add_links` does.

Why Sphinx + MyST (myst-parser) + Furo: the nbdev directives are the hard part, and no notebook plugin knows them
(mkdocs-jupyter and myst-nb both hide cells by cell tags, and neither inserts show_doc docs), so the notebooks go
through nbdev's own processors here and become plain MyST Markdown. For rendering that, Sphinx is the
long-lived choice: it is actively released (9.x in 2026; 9.0.4 is the newest for Python 3.11), as is myst-parser
(5.2, Nov 2026); its search runs in the browser from the built site, with no server or network; and with `-W`
every link to a missing page or API entry fails the build. mkdocs-material was the first candidate and built this
site too, but its 9.8.2 release prints that Material for MkDocs reaches end of life on 5 May 2027 (its successor,
Zensical, is at 0.1.x), and the mkdocs core it pins has had no release since 1.6.1 (Aug 2024).
"""
import argparse, base64, html, importlib, inspect, os, re, shutil, subprocess, sys, time, warnings
from pathlib import Path

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root))   # document this checkout's fastinterp, whatever is installed

src_dir = root/'_site_src'      # generated MyST Markdown (git-ignored)
site_dir = root/'_site'         # the built site (git-ignored)
docs_cfg = root/'docs'          # committed: conf.py (Sphinx settings), extra.css, requirements.txt


# ---------------------------------------------------------------- notebooks, in reading order
def nb_order(p):
    "index first, then numeric prefix, then name"
    m = re.match(r'^(\d+)', p.stem)
    return (0 if p.stem == 'index' else 1, int(m.group(1)) if m else float('inf'), p.stem)

def discover(nbs):
    return sorted((p for p in nbs.glob('*.ipynb') if not p.name.startswith(('_', '.'))), key=nb_order)

def page_of(p):
    "nbdev's page name: lower case, numeric prefix dropped (`15_importance.ipynb` -> `importance`)"
    return re.sub(r'^\d+[a-zA-Z0-9]*_', '', p.stem.lower())


# ---------------------------------------------------------------- nbdev processing
def process(path):
    "The notebook's cells after nbdev's doc processors: show_doc cells inserted, hidden and exported code gone"
    from nbdev.process import NBProcessor
    from nbdev import processors as P
    procs = [P.populate_language, P.add_show_docs, P.strip_ansi, P.hide_line, P.rm_header_dash, P.rm_export,
             P.clean_magics, P.hide_, P.mv_exports]
    p = NBProcessor(path, procs=procs, rm_directives=True)
    p.process()
    return p.nb

def title_of(nb, path):
    "title, summary and the rest of the first markdown cell, which must have a `# Title` line; removes that cell"
    c = next((c for c in nb.cells if c.cell_type == 'markdown'), None)
    if c is None or not re.search(r'^#\s+\S', c.source, re.M):
        raise SystemExit(f'{path.name}: its first markdown cell must start with a `# Title` line (and a `> summary`)')
    title = summary = None; rest = []
    for l in c.source.splitlines():
        if title is None and re.match(r'^#\s+\S', l): title = l[1:].strip()
        elif summary is None and re.match(r'^>\s*\S', l): summary = l[1:].strip()
        elif re.match(r'^-\s+\S.*:.*\S\s*$', l): pass     # nbdev's `- key: value` frontmatter lines
        else: rest.append(l)
    nb.cells.remove(c)
    return title, summary, '\n'.join(rest).strip()

_re_showdoc = re.compile(r'^\s*show_doc\(\s*([\w.]+)\s*(?:,.*)?\)\s*$')

def shown_names(c):
    "the names a code cell's show_doc calls document"
    if c.cell_type != 'code': return []
    return [m.group(1) for l in c.source.splitlines() if (m := _re_showdoc.match(l))]

def export_module(nb):
    for c in nb.cells:
        if c.cell_type == 'code' and 'default_exp' in c.directives_: return c.directives_['default_exp'].split()[0]
    return None


# ---------------------------------------------------------------- API docs (show_doc)
def resolve(nm, mods):
    "the object `nm` names, looked up in the exported modules (the notebook's own first)"
    for m in mods:
        try: return eval(nm, vars(m))
        except Exception: pass
    raise SystemExit(f'show_doc({nm}): no fastinterp module defines {nm} (looked in {[m.__name__ for m in mods][:3]}...)')

def _signature(sym, nm):
    "nbdev's signature (fastcore's DocmentText, as show_doc renders it), without the docments: they go in the table"
    from fastcore.docments import DocmentText
    dt = DocmentText(sym, docstring=False)
    params = [f for f, _ in dt.params]
    try: ret = dt._ret_str.split(' # ')[0].rstrip(':')   # ")->pd.DataFrame"
    except Exception: ret = ')'
    pre = 'class' if inspect.isclass(sym) else 'def'
    one = f'{pre} {nm}(' + ', '.join(params) + ret
    if len(one) <= 100: return one
    return f'{pre} {nm}(\n' + ''.join(f'    {p},\n' for p in params) + ret

def api_md(nm, sym, label, links, page):
    "show_doc's content as MyST: a heading (a section, with a label to link to), then a box with the signature,\n    docstring and docments table"
    from nbdev.showdoc import BasicMarkdownRenderer
    from fastcore.docments import DocmentTbl
    r = BasicMarkdownRenderer(sym, name=nm)              # nbdev's renderer: the object, its docstring
    try: sig = _signature(r.sym, nm.split('.')[-1])
    except Exception: sig = str(r.dm)                     # what nbdev shows, e.g. when there is no signature
    body = [fence(sig, 'python')]
    if r.docs:
        doc = r.docs.strip()
        body.append(f'*{doc}*' if '\n' not in doc and '*' not in doc else doc)
    try: tbl = DocmentTbl(r.sym)._repr_markdown_()
    except Exception: tbl = ''
    if tbl: body.append(tbl)
    body = links.linkify('\n\n'.join(body), page)
    return f'({label})=\n### `{nm}`\n\n::::{{container}} api\n{body}\n::::'


# ---------------------------------------------------------------- links
class Links:
    "backticked names -> MyST link targets, as nbdev's NbdevLookup.linkify, built from what the pages document"
    def __init__(self): self.syms, self.short = {}, {}
    def add(self, nm, target):
        self.syms.setdefault(nm, target)
        if '.' in nm and not nm.startswith('fastinterp.'): self.short.setdefault(nm.split('.')[-1], set()).add(target)
    def lookup(self, s):
        if s in self.syms: return self.syms[s]             # e.g. a notebook's name, `19_distributed`
        m = re.match(r'^(?:learn\.|self\.)?([A-Za-z_][\w.]*)(?:\(.*\))?$', s)
        if not m: return None
        k = m.group(1)
        if k in self.syms: return self.syms[k]
        t = self.short.get(k, set())
        return next(iter(t)) if len(t) == 1 else None
    def link_line(self, l):
        def sub(m):
            t = self.lookup(m.group(1))
            return m.group(0) if t is None else f'[{m.group(0)}]({t})'
        # `x` not already a link's text
        return re.sub(r'(?<![\[`])`([^`\n]+?)`(?![\]`])', sub, l)
    def linkify(self, md, page=None):
        out, fence_ = [], None
        for l in md.splitlines():
            s = l.lstrip()
            m = re.match(r'^(`{3,}|~{3,})', s)
            if m:
                if fence_ is None: fence_ = m.group(1)
                elif s.startswith(fence_): fence_ = None
            elif fence_ is None and not l.startswith('    ') and not s.startswith('#'): l = self.link_line(l)
            out.append(l)
        return '\n'.join(out)


# ---------------------------------------------------------------- cells -> MyST Markdown
def fence(s, lang=''):
    ticks = '`' * max(3, 1 + max((len(m) for m in re.findall(r'`+', s)), default=0))
    return f'{ticks}{lang}\n{s}\n{ticks}'

_re_ansi = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')
_re_plot_repr = re.compile(r'^<(Figure|Axes|matplotlib\.|Text|Line2D|BarContainer)\b.*>$', re.S)

def raw_html(h, cls):
    "an HTML output as one HTML block (a blank line would end it in CommonMark)"
    h = re.sub(r'\n\s*\n', '\n', h.strip())
    return f'<div class="nb-output {cls}">\n{h}\n</div>'

def text_out(txt, cls='nb-text'): return f':::{{container}} nb-output {cls}\n{fence(txt, "text")}\n:::'

def outputs_md(c, page, figs):
    out = []
    for o in c.get('outputs', []):
        t = o.get('output_type')
        if t == 'stream':
            txt = _re_ansi.sub('', ''.join(o.get('text', ''))).rstrip()
            if txt.strip(): out.append(text_out(txt, 'nb-stream'))
        elif t == 'error':
            out.append(text_out(_re_ansi.sub('', '\n'.join(o.get('traceback', []))), 'nb-error'))
        elif t in ('execute_result', 'display_data'):
            d = o.get('data', {})
            if 'image/png' in d:
                name = f'{page}_{len(figs)}.png'
                figs[name] = base64.b64decode(''.join(d['image/png']))
                alt = re.sub(r'[\[\]\n]', ' ', ''.join(d.get('text/plain', '')).strip()) or 'figure'
                out.append(f':::{{container}} nb-output nb-figure\n![{alt}](figures/{name})\n:::')
            elif 'image/svg+xml' in d: out.append(raw_html(''.join(d['image/svg+xml']), 'nb-figure'))
            elif 'text/html' in d: out.append(raw_html(''.join(d['text/html']), 'nb-html'))
            elif 'text/markdown' in d: out.append(''.join(d['text/markdown']))
            elif 'text/plain' in d:
                txt = ''.join(d['text/plain']).rstrip()
                if not _re_plot_repr.match(txt.strip()): out.append(text_out(txt))
    return out

def page_md(nb, title, summary, rest, page, links, mods, labels, figs):
    parts = [f'# {title}']
    if summary: parts.append('{.nb-summary}\n' + links.linkify(summary))
    if rest: parts.append(links.linkify(rest))
    for c in nb.cells:
        d = c.directives_
        if str(d.get('include', '')).lower() == 'false': continue
        if c.cell_type == 'markdown':
            if c.source.strip(): parts.append(links.linkify(c.source))
            continue
        if c.cell_type != 'code': continue
        names = shown_names(c)
        if names:
            for nm in names: parts.append(api_md(nm, resolve(nm, mods), labels.pop(0), links, page))
            continue
        src = c.source.strip()
        if src and str(d.get('echo', '')).lower() != 'false': parts.append(fence(src, 'python'))
        if str(d.get('output', '')).lower() != 'false': parts += outputs_md(c, page, figs)
    return '\n\n'.join(p.rstrip() for p in parts) + '\n'


# ---------------------------------------------------------------- build
def find_sphinx(arg):
    if arg: return arg
    venv = root/'.venv-docs'
    exe = venv/'bin'/'sphinx-build'
    if not exe.exists():
        print(f'creating {venv.name} from docs/requirements.txt', flush=True)
        subprocess.run([sys.executable, '-m', 'venv', str(venv)], check=True)
        subprocess.run([str(venv/'bin'/'pip'), 'install', '-q', '-r', str(docs_cfg/'requirements.txt')], check=True)
    return str(exe)

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sphinx', help='sphinx-build executable (default: .venv-docs/bin/sphinx-build, made if missing)')
    ap.add_argument('--md-only', action='store_true', help='write the Markdown (_site_src/) but do not build')
    args = ap.parse_args()
    t0 = time.time()
    os.chdir(root)                      # nbdev reads pyproject.toml's [tool.nbdev] from here
    warnings.filterwarnings('ignore')   # third-party noise from importing torch/fastai
    import fastinterp
    print('documenting', Path(fastinterp.__file__).parent, flush=True)

    nbs = root/'nbs'
    paths = discover(nbs)
    if not paths or paths[0].stem != 'index': sys.exit('nbs/ needs index.ipynb (the home page) and the notebooks')
    pages = {}
    for p in paths:
        pg = page_of(p)
        if pg in pages: sys.exit(f'{p.name} and {pages[pg].name} would both be {pg}.html')
        if pg in ('genindex', 'search', 'py-modindex'): sys.exit(f'{p.name}: {pg}.html is a Sphinx page name')
        pages[pg] = p

    # pass 1: process every notebook; what each page documents, and its label (unique across the site)
    links, done, used = Links(), [], set()
    for pg, p in pages.items():
        nb = process(p)
        title, summary, rest = title_of(nb, p)
        mod = export_module(nb)
        links.add(p.stem, f'{pg}.md')
        if mod: links.add(f'fastinterp.{mod}', f'{pg}.md')
        labels = []
        for c in nb.cells:
            for nm in shown_names(c):
                lab = nm.lower() if nm.lower() not in used | set(pages) else f'{pg}.{nm.lower()}'
                while lab in used: lab += '_'
                used.add(lab); labels.append(lab)
                links.add(nm, f'#{lab}')
        done.append((pg, p, nb, title, summary, rest, mod, labels))

    # pass 2: write the Markdown, the figures, and the home page's (hidden) table of contents = the sidebar
    if src_dir.exists(): shutil.rmtree(src_dir)
    (src_dir/'figures').mkdir(parents=True)
    if (nbs/'images').is_dir(): shutil.copytree(nbs/'images', src_dir/'images')   # images the notebooks' Markdown uses
    pkg = root/'fastinterp'
    all_mods = [importlib.import_module('fastinterp.' + '.'.join(m.relative_to(pkg).with_suffix('').parts))
                for m in sorted(pkg.rglob('[!_]*.py'))]
    n_figs = n_api = 0
    for pg, p, nb, title, summary, rest, mod, labels in done:
        mods = ([importlib.import_module(f'fastinterp.{mod}')] if mod else []) + all_mods
        figs, n = {}, len(labels)
        md = page_md(nb, title, summary, rest, pg, links, mods, labels, figs)
        if pg == 'index':
            md += '\n```{toctree}\n:hidden:\n:maxdepth: 1\n\n' + '\n'.join(d[0] for d in done[1:]) + '\n```\n'
        (src_dir/f'{pg}.md').write_text(f'<!-- generated from nbs/{p.name} by tools/build_docs.py -->\n{md}',
                                        encoding='utf-8')
        for name, b in figs.items(): (src_dir/'figures'/name).write_bytes(b)
        n_figs += len(figs); n_api += n
    print(f'{len(done)} pages, {n_api} API entries, {n_figs} figures -> {src_dir.relative_to(root)}/ '
          f'({time.time()-t0:.1f}s)', flush=True)
    if args.md_only: return

    sphinx = find_sphinx(args.sphinx)
    if site_dir.exists(): shutil.rmtree(site_dir)
    # -W: a warning (a link to a missing page or entry, a missing image) fails the build; -E: no stale cache
    subprocess.run([sphinx, '-q', '-W', '--keep-going', '-E', '-b', 'html', '-c', str(docs_cfg), '-d',
                    str(src_dir/'.doctrees'), str(src_dir), str(site_dir)], check=True)
    print(f'site -> {site_dir.relative_to(root)}/ ({time.time()-t0:.1f}s in all)')


if __name__ == '__main__': main()
