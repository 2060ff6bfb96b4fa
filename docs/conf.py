# Sphinx settings for the documentation site. tools/build_docs.py writes the pages (MyST Markdown, one per
# notebook) into _site_src/ and runs `sphinx-build -c docs _site_src _site`; see docs/README.md.
from configparser import ConfigParser
from pathlib import Path

_cfg = ConfigParser(delimiters=['='])
_cfg.read(Path(__file__).resolve().parent.parent/'settings.ini', encoding='utf-8')
_cfg = _cfg['DEFAULT']

project = _cfg['lib_name']
author = _cfg['author']
copyright = _cfg['copyright']
release = version = _cfg['version']
html_title = f"{project} {version}"

extensions = ['myst_parser']
source_suffix = {'.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['.doctrees']
myst_enable_extensions = ['colon_fence', 'attrs_block', 'attrs_inline']   # ::: containers, {.class} attributes
myst_heading_anchors = 3          # ids for ##/### headings, so [text](page.md#heading) links resolve
suppress_warnings = ['myst.header']   # show_doc's ### entries may follow a # title directly, as in nbdev's docs

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
html_use_index = False           # no empty genindex.html: the API is documented on the notebook pages
