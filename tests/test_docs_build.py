"The documentation build's pieces that need no browser and no Sphinx (tools/build_docs.py, tools/docs_api.py)"
import importlib, io, re, sys
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import fastcore.test as fct

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root/'tools'))
import build_docs as B   # noqa: E402
import docs_api as A     # noqa: E402


def _api(name, module, kind='function'): return A.Api(name, None, module, kind)


def test_group_of_precedence_and_errors():
    groups = {'Plots': {'modules': ['plots']}, 'Text': {'modules': ['explain_text', 'plots.text']},
              'Misc': {'names': ['plot_special']}}
    fct.test_eq(A.group_of(_api('plot_importance', 'fastinterp.plots.importance'), groups), 'Plots')
    fct.test_eq(A.group_of(_api('text_words', 'fastinterp.plots.text'), groups), 'Text')       # longer module wins
    fct.test_eq(A.group_of(_api('plot_special', 'fastinterp.plots.importance'), groups), 'Misc')  # a name wins
    with pytest.raises(ValueError, match='in no group.*list its module or its name'):
        A.group_of(_api('to_shap', 'fastinterp.interop'), groups)
    with pytest.raises(ValueError, match='several groups: A, B'):
        A.group_of(_api('f', 'fastinterp.importance'), {'A': {'modules': ['importance']}, 'B': {'modules': ['importance']}})
    # `plotsx` is not inside `plots`
    with pytest.raises(ValueError, match='no group'): A.group_of(_api('f', 'fastinterp.plotsx'), groups)


@pytest.fixture(scope='module')
def public():
    import fastinterp.all  # noqa: F401
    pkg = root/'fastinterp'
    mods = [importlib.import_module('fastinterp.' + '.'.join(m.relative_to(pkg).with_suffix('').parts))
            for m in sorted(pkg.rglob('[!_]*.py'))]
    return A.public_api(mods)


def test_every_public_name_in_exactly_one_group(public):
    "docs/sections.yml places every public name (a new module's names fail here, before the docs CI)"
    ns = {}
    exec('from fastinterp.all import *', ns)
    ours = {k for k, v in ns.items() if not k.startswith('_') and k in public}
    fct.test_eq(ours, {k for k in public if '.' not in k})   # every name public_api found is star-imported
    assert {'Learner.feature_importance', 'Learner.explain', 'Learner.fastinterp'} <= set(public)
    fct.test_eq(public['Learner.fastinterp'].kind, 'property')
    groups = next(v for v in B.load_sections().values() if v.get('groups'))['groups']
    for nm, a in public.items(): A.group_of(a, groups)           # raises if a name has no group, or two


def _documented(a:int|None=None,   # An int, or nothing
                b=None,            # No annotation: no type shown
                *, c:str='x|y',    # A pipe in a default
                **kw) -> dict:     # What comes back
    "A function to document"
    return {}

def test_params_as_written_never_nonetype():
    params, ret = A.params_of(_documented)
    rows = {q.name: q for _, q in params}
    fct.test_eq(list(rows), ['a', 'b', 'c', '**kw'])
    fct.test_eq((rows['a'].anno, rows['a'].default, rows['a'].doc), ('int|None', 'None', 'An int, or nothing'))
    fct.test_eq((rows['b'].anno, rows['b'].default), (None, 'None'))      # not 'NoneType'
    fct.test_eq(ret, ('dict', 'What comes back'))
    fct.test_eq(A.signature_text(params), "a: int|None = None, b=None, *, c: str = 'x|y', **kw")
    md = A.entry_md(A.Api('_documented', _documented, __name__, 'function'), lambda s: s)
    assert 'NoneType' not in md and '**Returns** `dict`: What comes back' in md
    assert "`'x\\|y'`" in md                    # a pipe in a table cell is escaped, even in code
    fct.test_eq(A.audit_entry(A.Api('_documented', _documented, __name__, 'function'))['untyped_none'], ['_documented(b)'])


def test_plain_numbers():
    fct.test_eq(B.plain_numbers('np.float32(7.4328556)'), '7.4328556')
    fct.test_eq(B.plain_numbers("(np.float64(0.87), [np.int64(3), np.str_('a b')], np.True_)"), "(0.87, [3, 'a b'], True)")
    fct.test_eq(B.plain_numbers('np.array([1])'), 'np.array([1])')      # arrays are not scalars: left alone


def test_trim_long_outputs():
    txt = '\n'.join(f'line {i}' for i in range(645))
    out, cut = B.trim(txt)
    assert cut and out.splitlines()[0] == 'line 0' and out.splitlines()[-1] == 'line 644'
    fct.test_eq(len(out.splitlines()), 31)
    assert '615 more lines' in out
    fct.test_eq(B.trim('a\nb'), ('a\nb', False))


def test_empty_sections():
    md = ('# Title\n\n## The embedding layer\n\n## Chunks\ntext\n\n### Sub\n\n```python\n# not a heading\n```\n'
          '## Parent\n### Child\nbody\n## Last\n')
    fct.test_eq(B.empty_sections(md), ['The embedding layer', 'Last'])   # `# Title` and `## Parent` hold subsections


def test_design_width_of_a_200dpi_png():
    fig, ax = plt.subplots(figsize=(5.7, 3))
    ax.plot([0, 1])
    buf = io.BytesIO(); fig.savefig(buf, format='png', dpi=200); plt.close(fig)
    png = buf.getvalue()
    px = int.from_bytes(png[16:20], 'big')
    fct.test_eq(px, 1140)
    fct.test_eq(B.design_width(png), 570)         # shown at 100 dpi, matplotlib's own scale


class _Cell(dict):
    def __init__(self, source): super().__init__(); self.source = source; self.directives_ = {}

def test_derived_alt():
    fct.test_eq(B.derived_alt(_Cell('# importance of each feature\nfi = f()\nplot_importance(fi);'), 'Page', 0, 1),
                'Page: importance of each feature')
    fct.test_eq(B.derived_alt(_Cell('fig, ax = plt.subplots()\nplot_importance(fi, ax=ax)\nfig.tight_layout()'), 'P', 1, 2),
                'P: output of plot_importance(fi, ax=ax) (2 of 2)')
    assert not re.search(r'Figure size', B.derived_alt(_Cell('x'), 'P', 0, 1))
