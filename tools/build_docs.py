"""Build the documentation site from the executed notebooks: `python tools/build_docs.py` writes `_site/`.

Run it with the project's Python (the one with fastinterp's dev requirements, e.g. `.venv`): it imports nbdev and
fastinterp. The site generator, Sphinx with MyST Markdown and the Furo theme, lives in its own virtual environment,
`.venv-docs`, which this script creates from `docs/requirements.txt` when it is missing (or pass `--sphinx PATH`).
`python tools/check_docs.py` then checks the built site in a real browser. docs/README.md says how it all fits.

The site's structure comes from `docs/sections.yml`: the sidebar's sections in order (Get started, Tutorials, API
reference, How it works), the pages of each, and the groups of the API reference (which modules, or names, each
holds). Every notebook must be placed once and every public name of `fastinterp.all` must be in exactly one group:
the build stops and says which are not.

How a notebook becomes a page (nbdev's rules, applied by nbdev's own processors):
- every `nbs/**/*.ipynb` not starting with `_` or `.`; the page is named as nbdev names it (`15_importance.ipynb`
  -> `importance.html`, `tutorials/01_tour.ipynb` -> `tutorials/tour.html`: lower case, numeric prefix dropped);
- the first markdown cell must hold the title: a `# Title` line gives the page title and a `> summary` line its
  summary (nbdev's `- key: value` lines are dropped, anything else in that cell is kept);
- `#| hide`, `#| exporti` and `#| default_exp` cells are not shown; `#| export` cells show no code but, as nbdev's
  `add_show_docs` decides, an API entry for each public function or class they define, right after them;
  `#| exports` cells show the entries, then the code; `#| echo: false`, `#| output: false` and
  `#| include: false` are honoured; explicit `show_doc(x)` cells render the same way;
- an API entry is a Sphinx Python-domain object (so it is in `objects.inv`, with a `[source]` link to the
  repository): signature, docstring, parameters table, returns, and, for a class, its public members
  (tools/docs_api.py). A public name that no page shows gets its entry on its API group's page;
- outputs as committed: PNGs as image files (alt text from `#| fig-alt:`, else derived from the cell and the page),
  HTML as HTML, text as text (numpy scalar reprs such as `np.float32(7.4)` as numbers, long ones trimmed with a
  note); matplotlib's `<Axes: ...>` reprs are dropped; `$...$` and `$$...$$` in Markdown are maths (MathJax,
  bundled: nothing is loaded from the internet);
- backticked names of the documented API in prose and docstrings (`feature_importance`, `Learner.feature_importance`,
  `learn.partial_dependence('x0')`, `EvalSet`), notebook names (`10_importance`) and module names
  (`fastinterp.importance`) link to the page and entry that documents them, as nbdev's `add_links` does.

What it cannot fix (the notebooks' or docstrings' content) it lists in `_site/docs-audit.json`, and
tools/check_docs.py prints those lists (and fails on them with `--strict` or `DOCS_STRICT=1`).
"""
import argparse, base64, fnmatch, importlib, inspect, json, os, re, shutil, signal, struct, subprocess, sys, time, warnings
from configparser import ConfigParser
from pathlib import Path

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root))   # document this checkout's fastinterp, whatever is installed
sys.path.insert(0, str(root/'tools'))
import docs_api as A            # noqa: E402

src_dir = root/'_site_src'      # generated MyST Markdown (git-ignored)
site_dir = root/'_site'         # the built site (git-ignored)
docs_cfg = root/'docs'          # committed: conf.py (Sphinx settings), sections.yml, static/, requirements.txt
RESERVED = ('genindex', 'search', 'py-modindex', 'api', 'changelog', 'tutorials')
MAX_TEXT_LINES = 40             # a longer text output is trimmed to its first 25 and last 5 lines
SCAFFOLD = re.compile(r'^\s*(?:test_\w+\(|assert\b|fct\.test_\w+\()', re.M)   # fastcore.test calls, asserts


# ---------------------------------------------------------------- notebooks and pages
def nb_order(p):
    "index first, then by folder, numeric prefix, name"
    rel = p.relative_to(root/'nbs')
    m = re.match(r'^(\d+)', p.stem)
    return (0 if rel.as_posix() == 'index.ipynb' else 1, rel.parent.as_posix(), int(m.group(1)) if m else float('inf'), p.stem)

def discover(nbs):
    "the notebooks that are pages: `nbs/**/*.ipynb`, except names (of files or folders) starting with `_` or `.`"
    return sorted((p for p in nbs.rglob('*.ipynb')
                   if not any(part.startswith(('_', '.')) for part in p.relative_to(nbs).parts)), key=nb_order)

def nb_key(p): return p.relative_to(root/'nbs').with_suffix('').as_posix()    # '15_importance', 'tutorials/01_tour'

def page_of(p):
    "nbdev's page name: lower case, numeric prefix dropped (`15_importance.ipynb` -> `importance`), folder kept"
    rel = p.relative_to(root/'nbs')
    return '/'.join([*rel.parent.parts, re.sub(r'^\d+[a-zA-Z0-9]*_', '', p.stem.lower())])


def load_sections():
    import yaml
    cfg = yaml.safe_load((docs_cfg/'sections.yml').read_text(encoding='utf-8'))
    if not isinstance(cfg, dict) or not cfg: sys.exit('docs/sections.yml: expected sections (title: {pages: [...]})')
    return {title: (v or {}) for title, v in cfg.items()}


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

def export_module(path):
    "the module a notebook exports to (its `#| default_exp`), read before nbdev's processors remove that cell"
    for c in json.loads(path.read_text(encoding='utf-8'))['cells']:
        m = c['cell_type'] == 'code' and re.search(r'^#\|\s*default_exp\s+(\S+)', ''.join(c['source']), re.M)
        if m: return m.group(1)
    return None

def directive_of(c, key):
    "a cell directive's value as text (`#| fig-alt: text` -> 'text')"
    v = c.directives_.get(key)
    if v is None: return None
    return ' '.join(v) if isinstance(v, (list, tuple)) else str(v)


# ---------------------------------------------------------------- API objects a page shows
def resolve(nm, mods):
    "the object `nm` names, looked up in the exported modules (the notebook's own first); a class member as stored\n    in the class (a property, classmethod, staticmethod, not what attribute access gives)"
    for m in mods:
        try: obj = eval(nm, vars(m))
        except Exception: continue
        if '.' in nm:
            try:
                owner = eval(nm.rsplit('.', 1)[0], vars(m))
                if inspect.isclass(owner): obj = inspect.getattr_static(owner, nm.rsplit('.', 1)[1])
            except Exception: pass
        return obj
    raise SystemExit(f'show_doc({nm}): no fastinterp module defines {nm} (looked in {[m.__name__ for m in mods][:3]}...)')

def api_of(nm, obj, page_mod, api):
    "the `Api` for a name a page shows: the public one when it is public, else one made here"
    if nm in api and (api[nm].obj is obj or A._unwrap(api[nm].obj) is A._unwrap(obj)): return api[nm]
    if '.' in nm and A.member_kind(obj):
        f = A._unwrap(obj)
        return A.Api(nm, obj, getattr(f, '__module__', None) or page_mod, A.member_kind(obj), public=False)
    kind = A.kind_of(obj)
    mod = getattr(obj, '__module__', None) if kind != 'data' else None
    return A.Api(nm, obj, mod if mod and mod.startswith('fastinterp') else page_mod, kind, public=False)


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
# pandas' own HTML for a DataFrame (no colours of its own): drawn with the site's colours, in dark mode too
_re_plain_frame = re.compile(r'^\s*<div>\s*<style scoped>[^<]*</style>\s*<table border="1" class="dataframe">.*</table>(?:\s*<p>[^<]*</p>)?\s*</div>\s*$', re.S)
_re_plot_repr = re.compile(r'^<(Figure|Axes|matplotlib\.|Text|Line2D|BarContainer)\b.*>$', re.S)
_NP_SCALARS = r'(?:float(?:16|32|64|128)|int(?:8|16|32|64)|uint(?:8|16|32|64)|bool_?|str_|bytes_|complex(?:64|128|256)|longdouble|intp)'
_re_np_scalar = re.compile(rf'\bnp\.{_NP_SCALARS}\(((?:[^()\'"]|\'[^\']*\'|"[^"]*")*)\)')

def plain_numbers(txt):
    "numpy 2's scalar reprs as numpy 1 printed them: `np.float32(7.43)` -> `7.43`, `np.str_('a')` -> `'a'`"
    txt = _re_np_scalar.sub(r'\1', txt)
    return re.sub(r'\bnp\.(True|False)_\b', r'\1', txt)

def trim(txt, note='trimmed for the site; the notebook has the whole output'):
    lines = txt.splitlines()
    if len(lines) <= MAX_TEXT_LINES: return txt, False
    return '\n'.join(lines[:25] + [f'... ({len(lines) - 30} more lines: {note}) ...'] + lines[-5:]), True

def raw_html(h, cls):
    "an HTML output as one HTML block (a blank line would end it in CommonMark)"
    h = re.sub(r'\n\s*\n', '\n', h.strip())
    return f'<div class="nb-output {cls}">\n{h}\n</div>'

def text_out(txt, cls='nb-text'): return f':::{{container}} nb-output {cls}\n{fence(txt, "text")}\n:::'

def design_width(png):
    "a PNG's width in CSS pixels at 100 dpi, matplotlib's own: its pixels x 100 / its dpi (the pHYs chunk)"
    w = struct.unpack('>II', png[16:24])[0]
    i = png.find(b'pHYs', 0, 4096)
    if i > 0:
        x, _, unit = struct.unpack('>IIB', png[i + 4:i + 13])
        if unit == 1 and x:    # pixels per metre
            dpi = x * 0.0254
            if dpi > 110: return round(w * 100 / dpi)
    return w

def derived_alt(c, title, i, n):
    "an alt text for a figure without `#| fig-alt:`: the cell's first comment, else the line that draws it"
    lines = [l.strip().rstrip(';') for l in c.source.splitlines() if l.strip()]
    comment = next((l.lstrip('#').strip() for l in lines if l.startswith('#') and not l.startswith('#|')), None)
    code = [l for l in lines if not l.startswith('#')]
    code_line = next((l for l in reversed(code) if re.search(r'\bplot|\.plots?\.|imshow|show\(', l)), code[-1] if code else '')
    what = comment or (f'output of {code_line}' if code_line else 'figure')
    alt = f'{title}: {what}' + (f' ({i+1} of {n})' if n > 1 else '')
    return re.sub(r'\s+', ' ', alt)[:300]

def outputs_md(c, page, title, figs, audit):
    out, outs = [], c.get('outputs', [])
    n_img = sum('image/png' in o.get('data', {}) for o in outs)
    for o in outs:
        t = o.get('output_type')
        if t == 'stream':
            txt = plain_numbers(_re_ansi.sub('', ''.join(o.get('text', ''))).rstrip())
            if txt.strip():
                txt, cut = trim(txt)
                if cut: audit['trimmed_outputs'].append(f'{page}: cell {c.get("id")} (stream)')
                out.append(text_out(txt, 'nb-stream'))
        elif t == 'error':
            out.append(text_out(_re_ansi.sub('', '\n'.join(o.get('traceback', []))), 'nb-error'))
        elif t in ('execute_result', 'display_data'):
            d = o.get('data', {})
            if 'image/png' in d:
                name = f'{page.replace("/", "_")}_{len(figs)}.png'
                figs[name] = base64.b64decode(''.join(d['image/png']))
                alt = directive_of(c, 'fig-alt') or directive_of(c, 'fig-cap')
                if not alt:
                    alt = derived_alt(c, title, sum('image/png' in x.get('data', {}) for x in outs[:outs.index(o)]), n_img)
                    audit['figures_without_alt'].append(f'{page}: cell {c.get("id")} (alt derived: "{alt}")')
                depth = ':' * 4
                # the size it was drawn at: a 200-dpi PNG (for sharp screens) is shown at half its pixels, as a
                # 100-dpi one would be; never wider than that, shrunk to fit the page (a click opens the PNG itself)
                img = f':::{{image}} /figures/{name}\n:alt: {alt}\n:width: {design_width(figs[name])}px\n:::'
                cap = directive_of(c, 'fig-cap')
                out.append(f'{depth}{{container}} nb-output nb-figure\n{img}\n' +
                           (f'\n{{.nb-caption}}\n{cap}\n' if cap else '') + depth)
            elif 'image/svg+xml' in d: out.append(raw_html(''.join(d['image/svg+xml']), 'nb-figure'))
            elif 'text/html' in d:
                h = ''.join(d['text/html'])
                out.append(raw_html(h, 'nb-dataframe' if _re_plain_frame.match(h) else 'nb-html'))
            elif 'text/markdown' in d: out.append(''.join(d['text/markdown']))
            elif 'text/plain' in d:
                txt = ''.join(d['text/plain']).rstrip()
                if _re_plot_repr.match(txt.strip()): continue
                txt, cut = trim(plain_numbers(txt))
                if cut: audit['trimmed_outputs'].append(f'{page}: cell {c.get("id")} (text/plain)')
                out.append(text_out(txt))
    return out

def empty_sections(md):
    "headings with nothing under them (the next line that is not blank is a heading of the same or a higher level)"
    out, fence_, last = [], None, None     # last: (level, text) of a heading not yet followed by content
    for l in md.splitlines():
        s = l.strip()
        m = re.match(r'^(`{3,}|~{3,}|:{3,})', s)
        if m and fence_ is None: fence_ = m.group(1)[0] * len(m.group(1)); last = None; continue
        if fence_ is not None:
            if s.startswith(fence_) and s.rstrip(fence_[0]) == '': fence_ = None
            continue
        h = re.match(r'^(#{1,6})\s+(.*)', l)
        if h:
            lv = len(h.group(1))
            if last and lv <= last[0]: out.append(last[1])
            last = (lv, h.group(2).strip())
        elif s and not re.match(r'^\(.*\)=$', s): last = None
    if last: out.append(last[1])
    return out

def page_md(nb, title, summary, rest, page, links, mods, entries, figs, audit, key):
    "a notebook page as MyST Markdown; `entries`: one (Api, label, canonical) per show_doc, in order"
    parts = [f'# {title}']
    if summary: parts.append('{.nb-summary}\n' + links.linkify(summary))
    if rest: parts.append(links.linkify(rest))
    entries = list(entries)
    for c in nb.cells:
        d = c.directives_
        if str(d.get('include', '')).lower() == 'false': continue
        if c.cell_type == 'markdown':
            if c.source.strip(): parts.append(links.linkify(c.source))
            continue
        if c.cell_type != 'code': continue
        names = shown_names(c)
        if names:
            for _ in names:
                a, label, canonical, members = entries.pop(0)
                parts.append(f'({label})=\n' + A.entry_md(a, links.linkify, index=canonical, members=members))
            continue
        src = c.source.strip()
        if src and str(d.get('echo', '')).lower() != 'false':
            parts.append(fence(src, 'python'))
            hits = [l.strip() for l in src.splitlines() if SCAFFOLD.match(l)]
            if hits: audit['test_scaffolding'].append(f'{key}.ipynb cell {c.get("id")}: {hits[0][:80]}'
                                                      + (f' (+{len(hits)-1} more)' if len(hits) > 1 else ''))
        if str(d.get('output', '')).lower() != 'false': parts += outputs_md(c, page, title, figs, audit)
    md = '\n\n'.join(p.rstrip() for p in parts) + '\n'
    audit['empty_sections'] += [f'{page}: "{h}" ({key}.ipynb)' for h in empty_sections(md)]
    return md


# ---------------------------------------------------------------- the generated pages
def md_table(rows, head):
    return '| ' + ' | '.join(head) + ' |\n|' + '---|' * len(head) + '\n' + \
           '\n'.join('| ' + ' | '.join(r) + ' |' for r in rows)

def slug(s): return re.sub(r'[^a-z0-9]+', '-', s.lower()).strip('-')

def api_rows(names, api, where, linkify, with_page=True):
    rows = []
    for nm in names:
        a = api[nm]
        lab, pg, title = where[nm]
        row = [f'[`{nm}`](#{lab})', a.kind, A.md_cell(linkify(A.summary_of(a)))]
        if with_page: row.append(f'[{title}](/{pg}.md)')
        rows.append(row)
    return md_table(rows, ['Name', 'Kind', 'Summary'] + (['Page'] if with_page else []))

def toctree(entries, caption=None, hidden=True):
    opts = (':hidden:\n' if hidden else '') + (f':caption: {caption}\n' if caption else '') + ':maxdepth: 2\n'
    entries = [e if e.endswith('self') or e.endswith('>') else f'/{e}' for e in entries]    # paths from the site's root
    return '```{toctree}\n' + opts + '\n' + '\n'.join(entries) + '\n```'


# ---------------------------------------------------------------- build
def start_sphinx_install(arg):
    "the sphinx-build to run, and the install of .venv-docs (a Popen) when it is missing: it runs while the\n    notebooks are processed"
    if arg: return arg, None
    venv = root/'.venv-docs'
    exe = venv/'bin'/'sphinx-build'
    if exe.exists(): return str(exe), None
    print(f'creating {venv.name} from docs/requirements.txt (in the background)', flush=True)
    # a venv without pip of its own, filled by this Python's pip: every package is pinned (no resolution)
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(venv)], check=True)
    return str(exe), subprocess.Popen([sys.executable, '-m', 'pip', '--python', str(venv/'bin'/'python'), 'install', '-q',
                                       '--no-deps', '--no-compile', '-r', str(docs_cfg/'requirements.txt')],
                                      start_new_session=True)    # its own process group: pip --python runs a child

def settings():
    c = ConfigParser(delimiters=['='])
    c.read(root/'settings.ini', encoding='utf-8')
    return c['DEFAULT']

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--sphinx', help='sphinx-build executable (default: .venv-docs/bin/sphinx-build, made if missing)')
    ap.add_argument('--md-only', action='store_true', help='write the Markdown (_site_src/) but do not build')
    args = ap.parse_args()
    t0 = time.time()
    os.chdir(root)                      # nbdev reads pyproject.toml's [tool.nbdev] from here
    warnings.filterwarnings('ignore')   # third-party noise from importing torch/fastai
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))       # a kill cleans up too (below)
    sphinx, installing = (None, None) if args.md_only else start_sphinx_install(args.sphinx)
    try: build(args, t0, sphinx, installing)
    except BaseException:
        if installing is not None and (installing.poll() is None or installing.returncode != 0):
            if installing.poll() is None: os.killpg(installing.pid, signal.SIGTERM)   # pip and its child
            installing.wait(); time.sleep(0.5)                        # no half-made .venv-docs left behind
            shutil.rmtree(root/'.venv-docs', ignore_errors=True)
        raise

def build(args, t0, sphinx, installing):
    import fastinterp
    print('documenting', Path(fastinterp.__file__).parent, flush=True)
    sections = load_sections()

    nbs = root/'nbs'
    paths = discover(nbs)
    if not paths or nb_key(paths[0]) != 'index': sys.exit('nbs/ needs index.ipynb (the home page) and the notebooks')
    pages, by_key = {}, {}
    for p in paths:
        pg = page_of(p)
        if pg in pages: sys.exit(f'{p.name} and {pages[pg].name} would both be {pg}.html')
        if pg in RESERVED or pg.startswith('api/'): sys.exit(f'{nb_key(p)}.ipynb: {pg}.html is a page the build makes')
        pages[pg] = p; by_key[nb_key(p)] = pg

    pkg = root/'fastinterp'
    all_mods = [importlib.import_module('fastinterp.' + '.'.join(m.relative_to(pkg).with_suffix('').parts))
                for m in sorted(pkg.rglob('[!_]*.py'))]
    api = A.public_api(all_mods)
    api_cfg = next((v for v in sections.values() if v.get('groups')), {})
    groups = api_cfg.get('groups') or {}
    problems, group = [], {}
    for nm, a in api.items():
        try: group[nm] = A.group_of(a, groups)
        except ValueError as e: problems.append(str(e))
    for g, v in groups.items():
        for nm in (v or {}).get('names') or []:
            if nm not in api: problems.append(f'docs/sections.yml: {g} lists {nm}, which is not a public name')
    if problems: sys.exit('docs/sections.yml does not fit the API:\n  ' + '\n  '.join(problems))

    # pass 1: process every notebook; what each page documents, and its label (unique across the site)
    links, done, used = Links(), {}, set()
    shown = {}                          # name -> [(page, export module)] in notebook order
    for pg, p in pages.items():
        nb = process(p)
        title, summary, rest = title_of(nb, p)
        mod = export_module(p)
        links.add(nb_key(p), f'/{pg}.md'); links.add(p.stem, f'/{pg}.md')
        if mod: links.add(f'fastinterp.{mod}', f'/{pg}.md')
        labels = []
        for c in nb.cells:
            for nm in shown_names(c):
                lab = nm.lower() if nm.lower() not in used | set(pages) else f'{pg.replace("/", ".")}.{nm.lower()}'
                while lab in used: lab += '_'
                used.add(lab); labels.append((nm, lab))
                links.add(nm, f'#{lab}')
                shown.setdefault(nm, []).append((pg, mod))
        done[pg] = (p, nb, title, summary, rest, mod, labels)

    # each public name: its canonical entry's page and label; the ones no page shows go on their group's page
    def home(nm, a):
        cands = shown.get(nm, [])
        own = [pg for pg, mod in cands if mod and a.module == f'fastinterp.{mod}']
        return (own or [pg for pg, _ in cands] or [None])[0]
    canonical = {nm: home(nm, api.get(nm) or A.Api(nm, None, '', 'data')) for nm in shown}
    group_pages = {g: f'api/{slug(g)}' for g in groups}
    orphans = {}                        # group -> public names no page shows
    where = {}                          # public name -> (label, page, page title)
    for nm in api:
        if nm in shown: continue
        lab = nm.lower() if nm.lower() not in used | set(pages) else f'api.{nm.lower()}'
        while lab in used: lab += '_'
        used.add(lab); links.add(nm, f'#{lab}')
        orphans.setdefault(group[nm], []).append(nm)
        where[nm] = (lab, group_pages[group[nm]], group[nm])
    documented = set(shown) | set(api)  # names with an entry of their own (a class lists its other members)

    # sidebar: each section's pages
    placed, layout, group_nbs = {}, [], {g: [] for g in groups}
    def place(pg, sec):
        if pg in placed: problems.append(f'{pages[pg].relative_to(root)} is placed twice: in {placed[pg]} and {sec}')
        placed[pg] = sec
    for sec, v in sections.items():
        entries = []
        for pat in (v.get('pages') or []) + ['@groups'] + (v.get('pages_after') or []):
            if pat == '@groups':
                if v.get('groups'): entries += [('group', g) for g in groups]
                continue
            if pat in ('api', 'changelog'): entries.append(('gen', pat)); continue
            hits = [k for k in by_key if fnmatch.fnmatchcase(k, pat)]
            if not hits and not any(ch in pat for ch in '*?['):
                problems.append(f'docs/sections.yml: {sec} lists {pat}, but there is no nbs/{pat}.ipynb')
            for k in hits: place(by_key[k], sec); entries.append(('nb', by_key[k]))
        layout.append((sec, v, entries))
    for pg, (p, nb, title, summary, rest, mod, labels) in done.items():
        if pg in placed: continue
        g = None
        if mod:
            try: g = A.group_of(A.Api('', None, f'fastinterp.{mod}', 'data'), groups)
            except ValueError: g = None
        if g is None: problems.append(f'nbs/{nb_key(p)}.ipynb is on no page list of docs/sections.yml '
                                      f'(and its module {mod} is in no API group): add it'); continue
        place(pg, f'API reference: {g}'); group_nbs[g].append(pg)
    if problems: sys.exit('docs/sections.yml does not fit the notebooks and the API:\n  ' + '\n  '.join(problems))

    # pass 2: write the Markdown and the figures
    if src_dir.exists(): shutil.rmtree(src_dir)
    (src_dir/'figures').mkdir(parents=True)
    if (nbs/'images').is_dir(): shutil.copytree(nbs/'images', src_dir/'images')   # images the notebooks' Markdown uses
    audit = {k: [] for k in ('untyped_none', 'no_docment', 'no_docstring', 'untyped_none_internal', 'no_docment_internal',
                             'no_docstring_internal', 'figures_without_alt', 'test_scaffolding', 'empty_sections',
                             'trimmed_outputs')}
    events = set()
    try:
        from fastai.callback.core import _events, Callback
        events = set(_events)
    except ImportError: Callback = None
    def members(a):
        if a.kind not in ('class', 'exception') or not inspect.isclass(a.obj): return []
        ev = events if Callback is not None and issubclass(a.obj, Callback) else ()
        return A.members_of(a.obj, documented | {n for n in shown if n.startswith(a.name + '.')}, ev)
    def add_audit(a, ms):
        "the public API's problems; those of the objects only the How-it-works pages show go under *_internal"
        for k, v in A.audit_entry(a, ms).items(): audit[k if a.public else f'{k}_internal'] += v

    n_figs = n_api = 0
    titles = {pg: d[2] for pg, d in done.items()}
    for pg, (p, nb, title, summary, rest, mod, labels) in done.items():
        mods = ([importlib.import_module(f'fastinterp.{mod}')] if mod else []) + all_mods
        entries = []
        for nm, lab in labels:
            obj = resolve(nm, mods)
            a = api_of(nm, obj, f'fastinterp.{mod}' if mod else 'fastinterp', api)
            canon = canonical[nm] == pg and (nm not in where)
            ms = members(a) if canon else []
            if canon:
                add_audit(a, ms)
                if nm in api: where[nm] = (lab, pg, title)
            entries.append((a, lab, canon, ms))
        n_api += len(entries)
        figs = {}
        md = page_md(nb, title, summary, rest, pg, links, mods, entries, figs, audit, nb_key(p))
        if pg == 'index': md += '\n' + '\n\n'.join(index_toctrees(layout, groups, group_pages)) + '\n'
        write(pg, md, f'nbs/{nb_key(p)}.ipynb')
        for name, b in figs.items(): (src_dir/'figures'/name).write_bytes(b)
        n_figs += len(figs)

    # the API index, the groups' pages, the changelog, the tutorials' landing page
    linkify = links.linkify
    intro = ('Every public name of `fastinterp.all` (`from fastinterp.all import *`), and the methods it adds to '
             "fastai's classes, by group. Each links to its entry: signature, parameters, and a `[source]` link.")
    idx = ['# API reference', '{.nb-summary}\n' + linkify(intro)]
    for g in groups:
        names = [nm for nm in api if group[nm] == g]
        idx += [f'## {g}', f'{{.api-group}}\n[All of {g}](/{group_pages[g]}.md)' +
                (': ' + ', '.join(f'[{titles[q]}](/{q}.md)' for q in group_nbs[g]) if group_nbs[g] else ''),
                api_rows(names, api, where, linkify)]
    write('api', '\n\n'.join(idx) + '\n', 'the public API (tools/docs_api.py) and docs/sections.yml')
    for g in groups:
        names = [nm for nm in api if group[nm] == g]
        nbp = group_nbs[g]
        body = [f'# {g}']
        if nbp: body.append('{.nb-summary}\nPages: ' + ', '.join(f'[{titles[q]}](/{q}.md)' for q in nbp) + '.')
        body.append(api_rows(names, api, where, linkify))
        if orphans.get(g):
            body.append('## Entries')
            for nm in orphans[g]:
                a, ms = api[nm], members(api[nm])
                add_audit(a, ms)
                body.append(f'({where[nm][0]})=\n' + A.entry_md(a, linkify, members=ms))
                n_api += 1
        if nbp: body.append(toctree(nbp))
        write(group_pages[g], '\n\n'.join(body) + '\n', 'docs/sections.yml')
    if (root/'CHANGELOG.md').exists():
        write('changelog', linkify((root/'CHANGELOG.md').read_text(encoding='utf-8')), 'CHANGELOG.md')
    tut_sec = next(((sec, es) for sec, v, es in layout if sec.lower().startswith('tutorial')), None)
    if tut_sec:
        tut = [pg for kind, pg in tut_sec[1] if kind == 'nb']
        body = [f'# {tut_sec[0]}']
        if tut: body.append('\n'.join(f'- [{titles[q]}](/{q}.md)' + (f': {linkify(done[q][3])}' if done[q][3] else '')
                                      for q in tut))
        else: body.append('No tutorials yet. Start with the tour on the [home page](/index.md); each page of the '
                          '[API reference](/api.md) shows its functions at work on small synthetic learners.')
        if tut: body.append(toctree(tut))
        write('tutorials', '\n\n'.join(body) + '\n', 'docs/sections.yml')

    print(f'{len(done)} pages, {n_api} API entries ({len(api)} public names), {n_figs} figures -> '
          f'{src_dir.relative_to(root)}/ ({time.time()-t0:.1f}s)', flush=True)
    manifest = {'version': settings()['version'], 'sections': [sec for sec, _, _ in layout],
                'api': {nm: {'kind': a.kind, 'fullname': a.fullname, 'group': group[nm],
                             'page': where[nm][1] + '.html', 'label': where[nm][0]} for nm, a in api.items()}}
    audit = {k: sorted(set(v)) for k, v in audit.items()}
    (src_dir/'linkcode.json').write_text(json.dumps(source_links(api, done, where, canonical, all_mods), indent=0))
    for k, v in audit.items():
        if v: print(f'  audit: {len(v)} {k.replace("_", " ")}', flush=True)
    if args.md_only: return

    if installing is not None and installing.wait() != 0:
        shutil.rmtree(root/'.venv-docs', ignore_errors=True)
        sys.exit('installing docs/requirements.txt into .venv-docs failed')
    if site_dir.exists(): shutil.rmtree(site_dir)
    # -W: a warning (a link to a missing page or entry, a missing image) fails the build; -E: no stale cache
    env = {**os.environ, 'FASTINTERP_DOCS_SRC': str(src_dir)}
    subprocess.run([sphinx, '-q', '-W', '--keep-going', '-E', '-b', 'html', '-c', str(docs_cfg), '-d',
                    str(src_dir/'.doctrees'), str(src_dir), str(site_dir)], check=True, env=env)
    (site_dir/'docs-manifest.json').write_text(json.dumps(manifest, indent=1))
    (site_dir/'docs-audit.json').write_text(json.dumps(audit, indent=1))
    print(f'site -> {site_dir.relative_to(root)}/ ({time.time()-t0:.1f}s in all)')


def write(pg, md, origin):
    f = src_dir/f'{pg}.md'
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(f'<!-- generated from {origin} by tools/build_docs.py -->\n{md}', encoding='utf-8')

def index_toctrees(layout, groups, group_pages):
    "the home page's hidden tables of contents, one per section of docs/sections.yml: Furo's sidebar"
    out = []
    for sec, v, entries in layout:
        items = []
        for kind, x in entries:
            if kind == 'nb': items.append('Overview <self>' if x == 'index' else x)
            elif kind == 'group': items.append(group_pages[x])
            elif x == 'api': items.append('API index </api>')
            else: items.append(x)
        if sec.lower().startswith('tutorial'): items = ['tutorials']
        out.append(toctree(items, caption=sec))
    return out

def source_links(api, done, where, canonical, mods):
    "{python full name: URL of its definition} for sphinx.ext.linkcode's [source] links (docs/conf.py)"
    s = settings()
    base = f"https://github.com/{s['user']}/{s['repo']}/blob/{s['branch']}/"
    out = {}
    def add(a, prefix=''):
        loc = A.source_line(a)
        if not loc or not loc[0]: return
        path = Path(loc[0]).resolve()
        if not path.is_relative_to(root): return
        out[f'{a.module}.{prefix}{a.name}'] = f'{base}{path.relative_to(root).as_posix()}#L{loc[1]}'
    seen = {}
    for pg, (p, nb, title, summary, rest, mod, labels) in done.items():
        ms = ([importlib.import_module(f'fastinterp.{mod}')] if mod else []) + mods
        for nm, _ in labels:
            a = api_of(nm, resolve(nm, ms), f'fastinterp.{mod}' if mod else 'fastinterp', api)
            seen[nm] = a
    for nm, a in {**api, **seen}.items():
        add(a)
        if a.kind in ('class', 'exception') and inspect.isclass(a.obj):
            for k, v in vars(a.obj).items():
                if not k.startswith('_') and A.member_kind(v):
                    add(A.Api(k, v, a.module, A.member_kind(v)), prefix=f'{a.name}.')
    return out


if __name__ == '__main__': main()
