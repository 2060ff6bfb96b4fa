"""Write README.md from nbs/index.ipynb (markdown cells as they are, visible code cells as Python blocks).
`nbdev-readme` does this through Quarto, which can't be installed on machines without internet beyond PyPI;
this is the same idea without it. `python tools/make_readme.py --check` fails when README.md is out of date."""
import json, sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent


def render(nb_path=root/'nbs'/'index.ipynb') -> str:
    cells = json.loads(Path(nb_path).read_text(encoding='utf-8'))['cells']
    parts = []
    for c in cells:
        src = ''.join(c['source']).strip()
        lines = src.splitlines()
        directives = {l[2:].strip() for l in lines if l.startswith('#|')}
        if directives & {'hide', 'include: false'}: continue
        body = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
        if not body: continue
        parts.append(body if c['cell_type'] == 'markdown' else f'```python\n{body}\n```')
    note = '<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, not this file. -->'
    return note + '\n\n' + '\n\n'.join(parts) + '\n'


if __name__ == '__main__':
    txt, readme = render(), root/'README.md'
    if '--check' in sys.argv:
        if readme.read_text(encoding='utf-8') != txt: sys.exit('README.md is out of date: run python tools/make_readme.py')
    else: readme.write_text(txt, encoding='utf-8')
