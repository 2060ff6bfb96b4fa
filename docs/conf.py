# Sphinx settings for the documentation site. tools/build_docs.py writes the pages (MyST Markdown, one per
# notebook, plus the API index, the API groups, the changelog) into _site_src/ and runs
# `sphinx-build -c docs _site_src _site`; see docs/README.md.
import json, os, shutil
from configparser import ConfigParser
from pathlib import Path

_here = Path(__file__).resolve().parent
_cfg = ConfigParser(delimiters=['='])
_cfg.read(_here.parent/'settings.ini', encoding='utf-8')
_cfg = _cfg['DEFAULT']

project = _cfg['lib_name']
author = _cfg['author']
copyright = _cfg['copyright']
release = version = _cfg['version']
html_title = f"{project} {version}"   # the version, in the sidebar's title

extensions = ['myst_parser', 'sphinx.ext.linkcode', 'sphinx.ext.mathjax']
source_suffix = {'.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['.doctrees']
# ::: containers, {.class} attributes, $maths$ and $$maths$$ (only where `$` touches its text: `$5 and $10` is prose)
myst_enable_extensions = ['colon_fence', 'attrs_block', 'attrs_inline', 'dollarmath']
myst_dmath_allow_space = False    # `$ x $` is not maths
myst_dmath_allow_digits = False   # `$1$2` is not maths
myst_dmath_double_inline = True   # $$...$$ inside a paragraph is display maths too
myst_heading_anchors = 3          # ids for ##/### headings, so [text](page.md#heading) links resolve
myst_ref_domains = ['std']       # [text](#label) links go to labels (the build's), not to same-named Python objects
suppress_warnings = ['myst.header']   # API entries may follow a # title directly, as in nbdev's docs

# API entries are Python-domain objects (tools/docs_api.py): objects.inv, and a [source] link on each
add_module_names = False          # `feature_importance(...)`, not `fastinterp.importance.feature_importance(...)`
toc_object_entries_show_parents = 'hide'
python_maximum_signature_line_length = 88   # longer signatures: one parameter a line
python_display_short_literal_types = True

def linkcode_resolve(domain, info):
    "the repository URL of an entry's definition: tools/build_docs.py writes them to _site_src/linkcode.json"
    if domain != 'py' or not info.get('module'): return None
    global _links
    if '_links' not in globals():
        f = Path(os.environ.get('FASTINTERP_DOCS_SRC', _here.parent/'_site_src'))/'linkcode.json'
        _links = json.loads(f.read_text()) if f.exists() else {}
    return _links.get(f"{info['module']}.{info['fullname']}")

html_theme = 'furo'
html_static_path = ['static']     # extra.css, favicon.svg
html_css_files = ['extra.css']
html_copy_source = False          # no _sources/*.md copies in the site
html_show_sourcelink = False
html_theme_options = {'navigation_with_keys': True, 'top_of_page_buttons': []}
pygments_style = 'friendly'
pygments_dark_style = 'monokai'
html_favicon = 'static/favicon.svg'     # without one, browsers ask for /favicon.ico and log a 404
smartquotes = False              # show quotes in prose as written ('std', not ‘std’)
html_use_index = False           # no genindex.html: api.html is the index of the API

# MathJax from the sphinx-mathjax-offline package (docs/requirements.txt), served from the site itself: nothing is
# loaded from the internet. Only what tex-chtml.js needs is copied: itself, its fonts, the TeX extensions it may
# autoload, the menu's and accessibility components (3 MB of the package's 24).
mathjax_path = 'mathjax/tex-chtml.js'
_MATHJAX_PARTS = ['tex-chtml.js', 'output/chtml', 'input/tex/extensions', 'ui', 'a11y']

def _mathjax_dir():
    import importlib.util
    spec = importlib.util.find_spec('sphinx-mathjax-offline')
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError('sphinx-mathjax-offline is not installed: pip install -r docs/requirements.txt')
    return Path(list(spec.submodule_search_locations)[0])/'static'/'mathjax'

def _copy_mathjax(app, exc):
    if exc is not None or app.builder.format != 'html': return
    src, dst = _mathjax_dir(), Path(app.outdir)/'_static'/'mathjax'
    for part in _MATHJAX_PARTS:
        s = src/part
        if s.is_dir(): shutil.copytree(s, dst/part, dirs_exist_ok=True)
        elif s.exists(): (dst/part).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(s, dst/part)

def setup(app):
    _mathjax_dir()                # fail early, not after the build
    app.connect('build-finished', _copy_mathjax)
