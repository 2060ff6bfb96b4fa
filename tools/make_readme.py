"""Write README.md from nbs/index.ipynb, as nbdev's README does: markdown cells as they are, visible code cells as
Python blocks, and their outputs (tables as markdown, charts as PNGs in nbs/images/, other output as text).
`nbdev-readme` does this through Quarto, which can't be installed on machines without internet beyond PyPI; this is
the same idea without it. The notebook must have been executed (tools/run_nbs.py). `python tools/make_readme.py
--check` fails when README.md or its images are out of date."""
import base64, json, sys
from html.parser import HTMLParser
from pathlib import Path

root = Path(__file__).resolve().parent.parent
img_dir = root/'nbs'/'images'


class _Table(HTMLParser):
    "The rows of the first HTML table (pandas' `DataFrame._repr_html_`), as lists of cell texts"
    def __init__(self):
        super().__init__(); self.rows, self.cell, self.done = [], None, False
    def handle_starttag(self, tag, attrs):
        if self.done: return
        if tag == 'tr': self.rows.append([])
        elif tag in ('td', 'th'): self.cell = ''
    def handle_endtag(self, tag):
        if tag in ('td', 'th') and self.cell is not None and self.rows: self.rows[-1].append(' '.join(self.cell.split())); self.cell = None
        elif tag == 'table': self.done = True
    def handle_data(self, data):
        if self.cell is not None: self.cell += data


def html_table_md(html):
    "A markdown table for a DataFrame's HTML, or None when it isn't a simple one (e.g. a MultiIndex header)"
    p = _Table(); p.feed(html)
    rows = [r for r in p.rows if r]
    if len(rows) < 2 or len({len(r) for r in rows}) != 1: return None
    esc = lambda s: s.replace('|', '\\|')
    head, body = rows[0], rows[1:]
    lines = ['| ' + ' | '.join(esc(c) for c in head) + ' |', '|' + '---|' * len(head)]
    return '\n'.join(lines + ['| ' + ' | '.join(esc(c) for c in r) + ' |' for r in body])


def _text(s, limit=40):
    lines = s.rstrip('\n').splitlines()
    if len(lines) > limit: lines = lines[:limit] + ['...']
    return '```text\n' + '\n'.join(lines) + '\n```'


def render(nb_path=root/'nbs'/'index.ipynb'):
    "The README text, and the images it refers to: {path relative to the repo: bytes}"
    cells = json.loads(Path(nb_path).read_text(encoding='utf-8'))['cells']
    parts, images = [], {}
    for c in cells:
        src = ''.join(c['source']).strip()
        lines = src.splitlines()
        directives = {l[2:].strip() for l in lines if l.startswith('#|')}
        if directives & {'hide', 'include: false'}: continue
        body = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
        if not body: continue
        if c['cell_type'] == 'markdown': parts.append(body); continue
        parts.append(f'```python\n{body}\n```')
        if 'hide_output' in directives or 'output: false' in directives: continue
        for o in c.get('outputs', []):
            if o.get('output_type') == 'stream' and o.get('name') == 'stdout': parts.append(_text(''.join(o['text'])))
            data = o.get('data', {})
            if 'image/png' in data:
                rel = f'nbs/images/readme_{len(images)}.png'
                images[rel] = base64.b64decode(''.join(data['image/png']))
                parts.append(f'![]({rel})')
            elif 'text/html' in data and html_table_md(''.join(data['text/html'])):
                parts.append(html_table_md(''.join(data['text/html'])))
            elif 'text/plain' in data and o.get('output_type') in ('execute_result', 'display_data'):
                txt = ''.join(data['text/plain'])
                if not (txt.startswith('<') and txt.rstrip().endswith('>')): parts.append(_text(txt))   # skip "<Axes: ...>"
    note = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->'
    return note + '\n\n' + '\n\n'.join(parts) + '\n', images


if __name__ == '__main__':
    txt, images = render()
    readme = root/'README.md'
    if '--check' in sys.argv:
        stale = [p for p, b in images.items() if not (root/p).exists() or (root/p).read_bytes() != b]
        if readme.read_text(encoding='utf-8') != txt or stale:
            sys.exit(f"README.md is out of date{f' (images {stale})' if stale else ''}: run python tools/make_readme.py")
    else:
        img_dir.mkdir(parents=True, exist_ok=True)
        for old in img_dir.glob('readme_*.png'): old.unlink()
        for p, b in images.items(): (root/p).write_bytes(b)
        readme.write_text(txt, encoding='utf-8')
