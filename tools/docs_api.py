"""The API half of the documentation build (tools/build_docs.py imports it): what the public API is, which group of
the API reference each name belongs to, and each entry as MyST Markdown for Sphinx's Python domain.

- The public API is what `from fastinterp.all import *` gives that fastinterp defines (functions, classes,
  constants), plus the methods and properties fastinterp adds to other libraries' classes (`Learner.explain`, ...).
- An entry is a Python-domain directive (`py:function`, `py:class`, `py:method`, `py:property`, `py:data`, ...),
  so Sphinx writes it into `objects.inv` (other projects cross-link to it with intersphinx) and `sphinx.ext.linkcode`
  adds a `[source]` link. A class's entry holds one for each of its public members (methods, properties and the
  attributes its `__init__` sets), except those a page documents on their own.
- The signature and the parameters table show each annotation and default as the source spells them; a parameter
  without an annotation shows no type (never the type of its default, such as `NoneType`). Docments and docstrings
  are Markdown.
"""
import ast, inspect, re, sys, textwrap
from dataclasses import dataclass, field
from pathlib import Path

_empty = inspect.Parameter.empty


# ---------------------------------------------------------------- what the public API is
@dataclass
class Api:
    "One documented object: `name` as users write it (`feature_importance`, `Learner.explain`), where it is defined"
    name: str
    obj: object
    module: str           # defining module, e.g. 'fastinterp.importance'
    kind: str             # function class exception method property data attribute
    public: bool = True   # a name of the public API (not only something a page shows)
    doc: str = ''         # for data and attributes: the comment next to the assignment
    members: list = field(default_factory=list)

    @property
    def fullname(self): return f'{self.module}.{self.name}'
    @property
    def short_module(self): return self.module.removeprefix('fastinterp.')


def _src(mod):
    try: return inspect.getsource(mod)
    except (OSError, TypeError): return ''

def _assign_comment(src, name):
    "the line of `name = ...` at the top level of a module's source (1-based) and its trailing or preceding comment"
    lines = src.splitlines()
    for i, l in enumerate(lines):
        m = re.match(rf'^{re.escape(name)}\s*(?::[^=]+)?=(?!=)', l)
        if not m: continue
        c = re.search(r'#\s*(.*)$', l)      # trailing comment (good enough: these lines hold no '#' in strings)
        if c and not re.search(r'[\'"][^\'"]*#', l): return i + 1, c.group(1).strip()
        j, pre = i - 1, []
        while j >= 0 and lines[j].lstrip().startswith('#') and not lines[j].startswith('# %%'):
            pre.insert(0, lines[j].lstrip()[1:].strip()); j -= 1
        return i + 1, ' '.join(pre)
    return None, ''

def member_kind(v):
    "the Python-domain kind of a class attribute, or None when it is not documented as a member"
    if isinstance(v, property): return 'property'
    if isinstance(v, (classmethod, staticmethod)) or inspect.isfunction(v): return 'method'
    return None

def _unwrap(v):
    if isinstance(v, property): return v.fget
    if isinstance(v, (classmethod, staticmethod)): return v.__func__
    return v

def kind_of(obj):
    if inspect.isclass(obj): return 'exception' if issubclass(obj, BaseException) else 'class'
    if inspect.isfunction(obj) or inspect.isbuiltin(obj): return 'function'
    return 'data'

def defining_module(nm, obj, mods):
    "where fastinterp defines `obj` (None when it comes from another library)"
    m = getattr(obj, '__module__', None) if (inspect.isclass(obj) or inspect.isroutine(obj)) else None
    if m: return m if m.startswith('fastinterp') else None
    for mod in mods:           # a constant: the module whose source assigns it at the top level
        if vars(mod).get(nm) is obj and _assign_comment(_src(mod), nm)[0]: return mod.__name__
    return None

def public_api(mods):
    "{name: Api} for the public API: `from fastinterp.all import *`'s names defined in fastinterp, and the methods and\n    properties fastinterp patches onto other libraries' classes"
    ns = {}
    exec('from fastinterp.all import *', ns)
    api = {}
    for nm, obj in ns.items():
        if nm.startswith('_'): continue
        mod = defining_module(nm, obj, mods)
        if mod is None: continue
        a = Api(nm, obj, mod, kind_of(obj))
        if a.kind == 'data': a.doc = _assign_comment(_src(sys.modules[mod]), nm)[1]
        api[nm] = a
    seen = set()
    for mname, m in list(sys.modules.items()):     # patched members of other libraries' classes (fastai's Learner, ...)
        if m is None or mname.startswith('fastinterp') or not mname.split('.')[0] in ('fastai', 'fastcore', 'torch'): continue
        for cls in list(vars(m).values()):
            if not inspect.isclass(cls) or id(cls) in seen or cls.__module__.startswith('fastinterp'): continue
            seen.add(id(cls))
            for k, v in vars(cls).items():
                fm = getattr(_unwrap(v), '__module__', None) or ''
                if k.startswith('_') or not fm.startswith('fastinterp') or member_kind(v) is None: continue
                nm = f'{cls.__name__}.{k}'
                api.setdefault(nm, Api(nm, v, fm, member_kind(v)))
    return dict(sorted(api.items(), key=lambda kv: kv[0].lower()))


def members_of(cls, documented, events=()):
    "the public members a class entry lists: methods and properties in its body, the attributes `__init__` sets"
    out = []
    for k, v in vars(cls).items():
        if k.startswith('_') or k in events or f'{cls.__name__}.{k}' in documented: continue
        kd = member_kind(v)
        if kd: out.append(Api(k, v, cls.__module__, kd, public=False))
    params = set()
    init = vars(cls).get('__init__')
    if inspect.isfunction(init):
        try: params = set(inspect.signature(init).parameters)
        except (TypeError, ValueError): pass
    for f in vars(cls).values():      # attributes set in `__init__` or in a method (as `reset` does)
        if not inspect.isfunction(_unwrap(f)): continue
        for nm, doc in _self_attributes(_unwrap(f)):
            if nm not in params and nm not in vars(cls) and f'{cls.__name__}.{nm}' not in documented \
               and not any(hasattr(base, nm) for base in cls.__mro__[1:]) and all(o.name != nm for o in out):
                out.append(Api(nm, None, cls.__module__, 'attribute', public=False, doc=doc))
    return out

def _self_attributes(fn):
    "(name, trailing comment) of each public `self.name = ...` in a method"
    try: src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError): return []
    lines, out = src.splitlines(), []
    try: tree = ast.parse(src)
    except SyntaxError: return []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Assign, ast.AnnAssign)): continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for t in targets:
            for e in (t.elts if isinstance(t, ast.Tuple) else [t]):
                if isinstance(e, ast.Attribute) and isinstance(e.value, ast.Name) and e.value.id == 'self' \
                   and not e.attr.startswith('_') and e.attr not in (o[0] for o in out):
                    c = re.search(r'#\s*(.*)$', lines[node.lineno - 1])
                    out.append((e.attr, c.group(1).strip() if c else ''))
    return out


# ---------------------------------------------------------------- groups of the API reference
def group_of(a, groups):
    "the one group (title) of `groups` ({title: {modules: [...], names: [...]}}) that claims `a`; raises when none\n    or several do at the same level (a name listed beats a module; a longer module path beats a shorter one)"
    best, level = [], -1
    for title, g in groups.items():
        g = g or {}
        if a.name in (g.get('names') or []): lv = 10_000
        else:
            lv = max((len(m) for m in (g.get('modules') or [])
                      if a.short_module == m or a.short_module.startswith(m + '.')), default=-1)
        if lv < 0: continue
        if lv > level: best, level = [title], lv
        elif lv == level: best.append(title)
    if len(best) != 1:
        raise ValueError(f'{a.name} (defined in {a.module}) is in {"no group" if not best else "several groups: " + ", ".join(best)}'
                         ' of docs/sections.yml: list its module or its name under exactly one group')
    return best[0]


# ---------------------------------------------------------------- signatures, as the source spells them
def _clean(s): return re.sub(r'\s+', ' ', s).strip() if s else s

def _source_params(fn):
    "{param: (annotation text, default text)} and the return annotation's text, read from `fn`'s source\n    (and from the functions it delegates to, fastcore's `__delwrap__`)"
    out, ret, first = {}, None, True
    while fn is not None:
        f = _unwrap(fn)
        try: src = textwrap.dedent(inspect.getsource(f))
        except (OSError, TypeError): src = None
        if src:
            try: tree = ast.parse(src)
            except SyntaxError: tree = None
            node = next((n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None) if tree else None
            if node is not None:
                seg = lambda n: _clean(ast.get_source_segment(src, n)) if n is not None else None
                a = node.args
                pos = a.posonlyargs + a.args
                for arg, d in zip(pos, [None] * (len(pos) - len(a.defaults)) + a.defaults):
                    out.setdefault(arg.arg, (seg(arg.annotation), seg(d)))
                for arg, d in zip(a.kwonlyargs, a.kw_defaults): out.setdefault(arg.arg, (seg(arg.annotation), seg(d)))
                for arg in (a.vararg, a.kwarg):
                    if arg: out.setdefault(arg.arg, (seg(arg.annotation), None))
                if first: ret = seg(node.returns)
        first = False
        fn = getattr(f, '__delwrap__', None)
    return out, ret

def _anno_text(a):
    if a is _empty or a is None: return None
    if isinstance(a, str): return a
    if inspect.isclass(a) and not getattr(a, '__args__', None): return a.__qualname__
    return re.sub(r'\b(?:[a-z_]\w*\.)+([A-Za-z_]\w*)', r'\1', str(a)).replace('NoneType', 'None')

def _default_text(v):
    if v is _empty: return None
    if inspect.isroutine(v) or inspect.isclass(v): return getattr(v, '__qualname__', getattr(v, '__name__', repr(v)))
    r = repr(v)
    if ' at 0x' in r: return f'{type(v).__name__}(...)'
    return r if len(r) <= 60 else r[:57] + '...'

@dataclass
class Param:
    name: str        # with * or ** for variadic ones
    anno: str
    default: str
    doc: str

_params_cache = {}

def params_of(sym, is_method=False):
    "the parameters users pass (no self/cls), with annotation and default text and docment; the return's (anno, doc)"
    key = (id(sym), is_method)
    if key not in _params_cache: _params_cache[key] = (sym, _params_of(sym, is_method))   # sym kept: ids stay unique
    return _params_cache[key][1]

def _params_of(sym, is_method):
    fn = _unwrap(sym)
    target = fn.__init__ if inspect.isclass(fn) and '__init__' in vars(fn) else fn
    try: sig = inspect.signature(fn)
    except (TypeError, ValueError): return None, (None, None)
    src, ret = _source_params(target) if inspect.isroutine(target) else ({}, None)
    from fastcore.docments import docments
    try: dm = dict(docments(fn, returns=True))
    except Exception: dm = {}
    # what @delegates passes through (on a class, fastcore marks the class, not its __init__): the delegatee's text
    d = getattr(fn, '__delwrap__', None) if inspect.isclass(fn) else None
    while d is not None:
        more, _ = _source_params(d)
        for k, v in more.items(): src.setdefault(k, v)
        try: dm.update({k: v for k, v in docments(d, returns=False).items() if v and not dm.get(k)})
        except Exception: pass
        d = getattr(d, '__delwrap__', None)
    ps = list(sig.parameters.values())
    if ps and (is_method or isinstance(sym, property)) and not isinstance(sym, staticmethod) and ps[0].name in ('self', 'cls'):
        ps = ps[1:]                     # `self` (also fastcore's @patch `self:Learner`), a classmethod's `cls`
    out = []
    for p in ps:
        a, d = src.get(p.name, (None, None))
        a = a or _anno_text(p.annotation)
        d = d if d is not None else _default_text(p.default)
        star = {p.VAR_POSITIONAL: '*', p.VAR_KEYWORD: '**'}.get(p.kind, '')
        out.append((p, Param(star + p.name, a, d, (dm.get(p.name) or '').strip())))
    ret_anno = None if inspect.isclass(fn) else (ret or _anno_text(sig.return_annotation))
    return out, (ret_anno, (dm.get('return') or '').strip() if not inspect.isclass(fn) else None)

def signature_text(params):
    "the argument list for a Python-domain directive: `a: int = 1, *, b=None` (one line)"
    parts, kwonly_marked, prev_kind = [], False, None
    for p, q in params:
        if p.kind == p.KEYWORD_ONLY and not kwonly_marked and prev_kind != p.VAR_POSITIONAL:
            parts.append('*'); kwonly_marked = True
        if p.kind != p.POSITIONAL_ONLY and prev_kind == p.POSITIONAL_ONLY: parts.append('/')
        s = q.name + (f': {q.anno}' if q.anno else '') + ((' = ' if q.anno else '=') + q.default if q.default is not None else '')
        parts.append(s); prev_kind = p.kind
    if prev_kind == inspect.Parameter.POSITIONAL_ONLY: parts.append('/')
    return ', '.join(parts)


# ---------------------------------------------------------------- source locations ([source] links)
def source_line(a):
    "`(path relative to the repo, line)` of `a`'s definition, or None"
    try:
        if a.kind in ('data',):
            mod = sys.modules[a.module]
            ln = _assign_comment(_src(mod), a.name.split('.')[-1])[0]
            return (inspect.getsourcefile(mod), ln) if ln else None
        if a.kind == 'attribute': return None
        o = inspect.unwrap(_unwrap(a.obj))
        return inspect.getsourcefile(o), inspect.getsourcelines(o)[1]
    except (OSError, TypeError): return None


# ---------------------------------------------------------------- entries as MyST
def md_cell(s):
    "Markdown in one table cell: one line, pipes escaped"
    return re.sub(r'\s*\n\s*', ' ', s or '').replace('|', '\\|').strip()

def code(s):
    ticks = '``' if '`' in s else '`'
    pad = ' ' if s.startswith('`') or s.endswith('`') else ''
    return f'{ticks}{pad}{s}{pad}{ticks}'

def params_table(params, ret, linkify):
    cell = lambda s: code(s).replace('|', '\\|')      # a pipe splits a table's cells, even in code
    rows = [(cell(q.name), cell(q.anno) if q.anno else '', cell(q.default) if q.default is not None else '',
             linkify(md_cell(q.doc))) for _, q in params]
    out = []
    if rows:
        out.append('| Parameter | Type | Default | Details |\n|---|---|---|---|\n' +
                   '\n'.join('| ' + ' | '.join(r) + ' |' for r in rows))
    ra, rd = ret
    if ra or rd:
        out.append('{.api-returns}\n**Returns**' + (f' {code(ra)}' if ra else '') + (f': {linkify(rd)}' if rd else ''))
    return '\n\n'.join(out)

def doc_of(obj):
    d = inspect.getdoc(_unwrap(obj)) if obj is not None else None
    if obj is not None and inspect.isclass(obj) and d and d == inspect.getdoc(object): return ''
    return (d or '').strip()

DIRECTIVE = {'function': 'py:function', 'class': 'py:class', 'exception': 'py:exception', 'method': 'py:method',
             'property': 'py:property', 'data': 'py:data', 'attribute': 'py:attribute'}

def directive(kind, arg, options, body, depth):
    "a MyST colon-fence directive; `depth` extra colons for the ones that hold others"
    fence = ':' * (3 + depth)
    opts = ''.join(f':{k}: {v}\n' if v is not None else f':{k}:\n' for k, v in options.items())
    return f'{fence}{{{DIRECTIVE[kind]}}} {arg}\n{opts}\n{body}\n{fence}'

def _value_text(v):
    r = repr(v)
    return r if len(r) <= 70 else None

def entry_md(a, linkify, index=True, members=(), depth=None, nested=False):
    "`a`'s entry: a Python-domain directive with its docstring, parameters table, returns and members"
    name = a.name if not nested else a.name.split('.')[-1]
    opts = {} if nested else {'module': a.module}
    if not index: opts['no-index'] = None
    body = []
    if a.kind in ('function', 'method', 'class', 'exception'):
        params, ret = params_of(a.obj, is_method=a.kind == 'method')
        sig = f'{name}({signature_text(params)})' if params is not None else name
        if a.kind == 'method' and isinstance(a.obj, classmethod): opts['classmethod'] = None
        if a.kind == 'method' and isinstance(a.obj, staticmethod): opts['staticmethod'] = None
        if ret[0] and a.kind in ('function', 'method'): sig += f' -> {ret[0]}'
        d = doc_of(a.obj)
        if d: body.append(linkify(d))
        if params: body.append(params_table(params, ret, linkify))
        elif ret[1]: body.append(params_table([], ret, linkify))
    elif a.kind == 'property':
        sig = name
        _, ret = params_of(a.obj)
        if ret[0]: opts['type'] = ret[0]
        d = doc_of(a.obj)
        if d: body.append(linkify(d))
    else:   # data, attribute
        sig = name
        if a.kind == 'data':
            v = _value_text(a.obj)
            opts['type'] = type(a.obj).__name__
            if v is not None: opts['value'] = v
        if a.doc: body.append(linkify(a.doc))
        if a.kind == 'data' and _value_text(a.obj) is None:
            import pprint, ast
            txt = pprint.pformat(a.obj, width=100, sort_dicts=False)
            try: ast.parse(txt); lang = 'python'
            except SyntaxError: lang = 'text'      # a repr that isn't Python (`<class ...>`): not lexed as Python
            body.append(f'```{lang}\n{txt}\n```')
    inner = [entry_md(m, linkify, index=index, nested=True) for m in members]
    depth = depth if depth is not None else (1 if inner else 0)
    return directive(a.kind, sig, opts, '\n\n'.join(body + inner), depth)


def summary_of(a):
    "the first sentence of `a`'s docstring (or comment), for the API index"
    d = doc_of(a.obj) if a.kind not in ('data', 'attribute') else a.doc
    d = (d or '').strip().split('\n\n')[0].replace('\n', ' ')
    return d


# ---------------------------------------------------------------- what the lead should add (listed, not fixed)
def audit_entry(a, members=()):
    "problems in `a`'s own docs: parameters without annotation whose default is None, parameters without docment,\n    members without docstring"
    out = {'untyped_none': [], 'no_docment': [], 'no_docstring': []}
    if a.kind in ('function', 'method', 'class', 'exception'):
        params, _ = params_of(a.obj, is_method=a.kind == 'method')
        for p, q in params or []:
            if q.anno is None and q.default == 'None': out['untyped_none'].append(f'{a.name}({q.name})')
            if not q.doc and not q.name.startswith('*'): out['no_docment'].append(f'{a.name}({q.name})')
    if a.kind != 'data' and not (doc_of(a.obj) if a.obj is not None else a.doc): out['no_docstring'].append(a.name)
    for m in members:
        sub = audit_entry(Api(f'{a.name}.{m.name}', m.obj, m.module, m.kind, doc=m.doc))
        for k in out: out[k] += sub[k]
    return out
