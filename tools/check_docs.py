"""Check the built documentation site (`_site/`, from tools/build_docs.py) in a real browser:
`python tools/check_docs.py` (runs itself with the project's .venv when selenium is not importable).

It serves the site on localhost (http.server in a thread) and opens every page in headless Chromium
(/usr/bin/chromium through /usr/bin/chromedriver, as Debian's chromium and chromium-driver install them).

It fails (the site's machinery is wrong) if
- an internal link is broken (no such page, or no element with the link's #anchor), an image does not load, a
  request gets a 4xx/5xx, or the browser logs a console error;
- the sidebar's sections are not Get started, Tutorials, API reference, How it works, in this order, or the version
  (settings.ini) is not shown;
- a public name (`from fastinterp.all import *`, and the methods it adds to fastai's classes; the build's
  docs-manifest.json lists them) has no entry (an element with its anchor, in a Python-domain box, with a [source]
  link to the repository), is missing from the API index (api.html), or from `objects.inv` under its role
  (`py:function`, `py:class`, `py:method`, ...);
- rendered text outside code holds a raw `$$` or `**`, or maths that MathJax (served by the site itself) did not
  typeset;
- an image has no alt text, or one that reads like a matplotlib repr (`<Figure size 1100x350 with 3 Axes>`);
- the text of an HTML output (the case report, text explanations, tables) has a WCAG contrast ratio under 4.5
  against its background, in light or in dark mode;
- at a 400 px wide viewport, a page scrolls sideways as a whole (`scrollWidth > innerWidth`; a wide table or code
  block may scroll inside its own box);
- the site search for "permutation" does not list the page documenting `Learner.feature_importance`.

It lists (warnings; failures with `--strict` or DOCS_STRICT=1) what the notebooks' and docstrings' content must fix:
test scaffolding shown in code cells (`test_eq`, `assert`, ...: these cells want `#| hide`), empty sections,
figures shrunk below 75% of their size, and the build's audit (docs-audit.json: parameters with a None default and
no annotation, parameters without docments, objects without docstrings, figures without `#| fig-alt:`).

Screenshots go to `_site_shots/`: the home page, an API page, a tutorial (or a guide page while there is none) and
the case report, each in light and dark mode, at desktop width and at 400 px.
Options: --site DIR, --shots DIR, --chromium PATH, --chromedriver PATH, --strict.
"""
import argparse, functools, http.server, json, os, re, sys, tempfile, threading, time
from pathlib import Path
from urllib.parse import urlsplit, unquote

root = Path(__file__).resolve().parent.parent

try: import selenium  # noqa: F401
except ImportError:     # selenium comes with the project's test requirements: try the project's .venv
    py = root/'.venv'/'bin'/'python'
    if py.exists() and Path(sys.prefix).resolve() != py.parent.parent.resolve():
        os.execv(str(py), [str(py), __file__, *sys.argv[1:]])
    sys.exit('selenium is not installed: pip install selenium (it is in the test requirements, settings.ini)')
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

SECTIONS = ['Get started', 'Tutorials', 'API reference', 'How it works']
ROLE = {'function': 'py:function', 'class': 'py:class', 'exception': 'py:exception', 'method': 'py:method',
        'property': 'py:property', 'data': 'py:data', 'attribute': 'py:attribute'}
DESKTOP, NARROW = (1400, 1000), (400, 900)
MIN_CONTRAST, MIN_SCALE = 4.5, 0.75
CHROME_FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--disable-dev-shm-usage', f'--window-size={DESKTOP[0]},{DESKTOP[1]}', '--hide-scrollbars']


class Handler(http.server.SimpleHTTPRequestHandler):
    failed = []                                     # (status, path) of every request the server refused
    def log_message(self, *a): pass
    def log_request(self, code='-', size='-'):
        if isinstance(code, int) and code >= 400 or str(code)[:1] in '45': Handler.failed.append((int(code), self.path))


def serve(site):
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Handler, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f'http://127.0.0.1:{srv.server_address[1]}'


def browser(chromium, chromedriver, profile):
    o = webdriver.ChromeOptions()
    o.binary_location = chromium
    for f in CHROME_FLAGS + [f'--user-data-dir={profile}']: o.add_argument(f)
    o.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    return webdriver.Chrome(service=Service(chromedriver), options=o)


PAGE_JS = r"""
const art = document.querySelector('article') || document.body;
const imgs = [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0,
    done: i.complete, alt: i.getAttribute('alt'), shown: i.getBoundingClientRect().width,
    natural: parseFloat(i.style.width) || i.naturalWidth,      // the width it was drawn for (the build sets it)
    figure: !!i.closest('.nb-figure')}));
// text outside code and maths: raw $$ or ** left by the Markdown
const skip = 'pre, code, .highlight, .math, mjx-container, script, style, .nb-output, .sig';
const walker = document.createTreeWalker(art, NodeFilter.SHOW_TEXT);
const raw = [];
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  if (n.parentElement.closest(skip)) continue;
  const t = n.textContent;
  const i = Math.max(t.indexOf('$$'), t.indexOf('**'));
  if (i >= 0) raw.push(t.slice(Math.max(0, i - 40), i + 40).trim());
}
const maths = [...art.querySelectorAll('.math')];
// code cells (not outputs) showing test scaffolding
const scaffold = [...art.querySelectorAll('div.highlight-python pre')].filter(p => !p.closest('.nb-output, dl.py'))
  .map(p => p.textContent.split('\n').find(l => /^\s*(test_\w+\(|assert\b|fct\.test_\w+\()/.test(l)))
  .filter(l => l !== undefined).map(l => l.trim().slice(0, 80));
// sections with nothing under their heading
const empty = [...art.querySelectorAll('section')].filter(s =>
  [...s.children].every(c => /^H[1-6]$/.test(c.tagName) || (c.tagName == 'SPAN' && !c.textContent.trim())))
  .map(s => (s.querySelector('h1,h2,h3,h4,h5,h6') || {}).textContent || s.id).map(t => t.replace(/[#\u00b6]/g, '').trim());
return {ids: [...document.querySelectorAll('[id]')].map(e => e.id).concat(
              [...document.querySelectorAll('a[name]')].map(e => e.name)),
        links: [...document.querySelectorAll('a[href]')].map(a => a.href),
        anchors: [...document.querySelectorAll('article a[href]')].map(a => [a.href, a.textContent.trim()]),
        imgs, raw, scaffold, empty,
        maths: maths.length, typeset: maths.filter(m => m.querySelector('mjx-container')).length,
        entries: [...document.querySelectorAll('dl.py > dt.sig[id]')].map(dt => ({id: dt.id,
                  source: [...dt.querySelectorAll('a[href]')].filter(a => /\[source\]/.test(a.textContent)).map(a => a.href)})),
        html_outputs: document.querySelectorAll('.nb-html, .nb-dataframe').length,
        // everything the page loaded (scripts, styles, fonts, images): all of it must come from the site
        resources: performance.getEntriesByType('resource').map(r => r.name),
        report: !!document.querySelector('.fi-report'),
        captions: [...document.querySelectorAll('.sidebar-tree p.caption')].map(c => c.textContent.trim()),
        brand: (document.querySelector('.sidebar-brand-text') || {}).textContent || '',
        title: document.title};
"""

# WCAG 2 contrast of each piece of text in HTML outputs against the background it is drawn on
CONTRAST_JS = r"""
const rgba = s => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null;
  const v = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
const lum = c => { const f = x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
const over = (top, bot) => { const a = top[3]; return [0, 1, 2].map(i => top[i] * a + bot[i] * (1 - a)).concat([1]); };
function background(el) {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const cs = getComputedStyle(e);
    if (cs.backgroundImage && cs.backgroundImage != 'none') return null;     // a gradient or picture: unknown
    const c = rgba(cs.backgroundColor); if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
  }
  let bg = [255, 255, 255, 1];
  for (const c of layers.reverse()) bg = over(c, bg);
  return bg;
}
const out = [];
for (const box of document.querySelectorAll(arguments[0])) {
  for (const el of [box, ...box.querySelectorAll('*')]) {
    const own = [...el.childNodes].some(n => n.nodeType == 3 && n.textContent.trim());
    if (!own) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility == 'hidden' || cs.display == 'none' || el.getClientRects().length == 0) continue;
    const bg = background(el); if (!bg) continue;
    const fg = over(rgba(cs.color), bg);
    const [a, b] = [lum(fg), lum(bg)];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    out.push({ratio: Math.round(ratio * 100) / 100, text: el.textContent.trim().slice(0, 40), fg: cs.color,
              bg: 'rgb(' + bg.slice(0, 3).map(Math.round).join(', ') + ')', report: !!el.closest('.fi-report')});
  }
}
return out;
"""

def set_theme(d, theme):
    "Furo's theme switch: body[data-theme] (and localStorage, so that a reload keeps it)"
    d.execute_script("document.body.dataset.theme = arguments[0]; localStorage.setItem('theme', arguments[0]);", theme)

def set_width(d, size):
    w, h = size
    d.execute_cdp_cmd('Emulation.setDeviceMetricsOverride', {'width': w, 'height': h, 'deviceScaleFactor': 1,
                                                             'mobile': w < 600})

def overflow(d):
    "at the current width: whether the page scrolls sideways, and the elements that stick out (not in a scroller)"
    return d.execute_script(r"""
const W = window.innerWidth, sw = document.documentElement.scrollWidth;
if (sw <= W) return {sw, W, culprits: []};
const scrolls = e => { for (let p = e.parentElement; p; p = p.parentElement) {
  const o = getComputedStyle(p).overflowX; if (o == 'auto' || o == 'scroll' || o == 'hidden') return p != document.body && p != document.documentElement; }
  return false; };
const culprits = [...document.querySelectorAll('article *')].filter(e => e.getBoundingClientRect().right > W + 1 && !scrolls(e))
  .slice(0, 5).map(e => e.tagName.toLowerCase() + (e.className && typeof e.className == 'string' ? '.' + e.className.split(' ').join('.') : '')
  + ' (' + Math.round(e.getBoundingClientRect().right) + 'px)');
return {sw, W, culprits};""")


def load(d, url, timeout=20):
    d.get(url)
    WebDriverWait(d, timeout).until(lambda d: d.execute_script('return document.readyState') == 'complete')
    end = time.time() + timeout
    while True:   # images loaded (or failed), maths typeset (MathJax runs after load)
        info = d.execute_script(PAGE_JS)
        if (all(i['done'] for i in info['imgs']) and info['typeset'] == info['maths']) or time.time() > end: return info
        time.sleep(0.1)

NOTE_SHRUNK = 'figures shrunk below 75% of the size they were drawn at (their text gets tiny: a narrower figsize fits the page)'

def check_page(d, base, pg, problems, note, contrast_rows):
    "load one page and check it as it is, in dark mode and at 400 px; its PAGE_JS info"
    inf = load(d, f'{base}/{pg}')
    inf['warnings'] = 0
    for e in d.get_log('browser'):
        if e['level'] == 'SEVERE': problems.append(f'{pg}: console error: {e["message"]}')
        elif e['level'] == 'WARNING': inf['warnings'] += 1
    for i in inf['imgs']:
        if not i['ok']: problems.append(f'{pg}: image did not load: {i["src"]}')
        alt = (i['alt'] or '').strip()
        if not alt or re.search(r'<Figure size|Figure size \d+x\d+|with \d+ Axes|^figure$|^image$', alt, re.I):
            problems.append(f'{pg}: image {i["src"].rsplit("/", 1)[-1]} has no real alt text: "{alt}"')
        if i['figure'] and i['ok'] and i['shown'] < MIN_SCALE * i['natural']:
            note(NOTE_SHRUNK, f'{pg}: {i["src"].rsplit("/", 1)[-1]} at {i["shown"] / i["natural"]:.0%} '
                              f'({i["natural"]:.0f}px wide, shown {i["shown"]:.0f}px)')
    for r in inf['resources']:
        if not r.startswith(base) and not r.startswith(('data:', 'blob:')):
            problems.append(f'{pg}: loads {r} from outside the site')
    for t in inf['raw']:     # `n**2` is Python written as prose (backticks wanted); anything else, Markdown left raw
        if re.search(r'\w\*\*\w', t) and '$$' not in t: note('Python in prose (put it in backticks)', f'{pg}: "{t}"')
        else: problems.append(f'{pg}: raw Markdown in the text: "{t}"')
    if inf['typeset'] != inf['maths']:
        problems.append(f'{pg}: {inf["maths"] - inf["typeset"]} of {inf["maths"]} maths not typeset by MathJax')
    for l in inf['scaffold']: note('test scaffolding in shown code cells (add `#| hide`)', f'{pg}: {l}')
    for h in inf['empty']: note('empty sections (a heading with nothing under it)', f'{pg}: "{h}"')
    # contrast: under 4.5:1 in light mode is the output's own colours (content); only in dark mode, the site's
    if inf['html_outputs']:
        low = {}
        for theme in ('light', 'dark'):
            set_theme(d, theme)
            low[theme] = {(r['text'], r['report']): r for r in d.execute_script(CONTRAST_JS, '.nb-html, .nb-dataframe')
                          if r['ratio'] < MIN_CONTRAST}
        set_theme(d, 'light')
        for (t, _), r in low['light'].items():
            note('HTML outputs whose own colours give text a contrast under 4.5:1 (light mode)',
                 f'{pg}: {r["ratio"]}:1 "{t}" {r["fg"]} on {r["bg"]}')
        for k, r in low['dark'].items():
            if k not in low['light']:
                contrast_rows.append(f'{pg} (dark mode only): {r["ratio"]}:1 "{k[0]}" {r["fg"]} on {r["bg"]}')
    set_width(d, NARROW)
    o = overflow(d)
    if o['sw'] > o['W']:
        problems.append(f'{pg}: at {NARROW[0]}px the page scrolls sideways ({o["sw"]}px wide): ' + ', '.join(o['culprits']))
    set_width(d, DESKTOP)
    return inf


def search(d, base, term):
    "type `term` into the search box of the home page, submit, wait for the results; their page paths"
    load(d, base + '/index.html')
    box = next(e for e in d.find_elements(By.CSS_SELECTOR, 'input[name="q"]') if e.is_displayed())
    box.send_keys(term); box.send_keys(Keys.ENTER)
    WebDriverWait(d, 30).until(lambda d: 'search.html' in d.current_url)
    # Sphinx's searchtools.js fills #search-results and says how many pages it found when done
    WebDriverWait(d, 30).until(lambda d: d.execute_script(
        "const s = document.querySelector('#search-results .search-summary, #search-results p');"
        "return !!s && /found|match/i.test(s.textContent) && !/Preparing/i.test(s.textContent);"))
    hrefs = d.execute_script("return [...document.querySelectorAll('#search-results li a')].map(a => a.href)")
    return [urlsplit(h).path.lstrip('/') for h in hrefs]


def shoot(d, url, out, name, scroll_to=None):
    "screenshots of `url` scrolled to `scroll_to`, in light and dark mode, at desktop width and at 400 px"
    paths = []
    d.get(url)
    WebDriverWait(d, 20).until(lambda d: d.execute_script('return document.readyState') == 'complete')
    for size, tag in ((DESKTOP, ''), (NARROW, '_400px')):
        set_width(d, size)
        if scroll_to:
            d.execute_script("const e = document.querySelector(arguments[0]); if (e) window.scrollTo({top: "
                             "Math.max(0, e.getBoundingClientRect().top + window.scrollY - 120), behavior: 'instant'});",
                             scroll_to)
        for theme in ('light', 'dark'):
            set_theme(d, theme)
            time.sleep(0.1)
            p = out/f'{name}{tag}_{theme}.png'
            d.save_screenshot(str(p)); paths.append(p)
    set_width(d, DESKTOP); set_theme(d, 'light')
    return paths


INVENTORY_PY = """
import json, sys
from sphinx.util.inventory import InventoryFile
with open(sys.argv[1], 'rb') as f: inv = InventoryFile.load(f, '', lambda base, uri: uri)
data = getattr(inv, 'data', inv)     # Sphinx 8.2+: an _Inventory; before: a dict
uri = lambda item: getattr(item, 'uri', None) or item[2]     # an _InventoryItem (Sphinx 8.2+) or a tuple
print(json.dumps({role: {name: uri(item) for name, item in items.items()} for role, items in data.items()}))
"""

def inventory(site):
    "objects.inv as {role: {name: uri}}, read as intersphinx reads it (Sphinx's `InventoryFile`, run in .venv-docs);\n    without .venv-docs, read here (format 2: four header lines, then zlib-compressed `name role prio uri dispname`)"
    import subprocess, zlib
    py = root/'.venv-docs'/'bin'/'python'
    if py.exists():
        r = subprocess.run([str(py), '-c', INVENTORY_PY, str(site/'objects.inv')], capture_output=True, text=True)
        if r.returncode == 0: return json.loads(r.stdout)
        raise RuntimeError(f'objects.inv: Sphinx cannot read it: {r.stderr.strip()[-500:]}')
    raw = (site/'objects.inv').read_bytes()
    head = raw.split(b'\n', 4)
    if not head[0].startswith(b'# Sphinx inventory version 2'): raise ValueError('objects.inv: not a version 2 inventory')
    out = {}
    for line in zlib.decompress(head[4]).decode('utf-8').splitlines():
        m = re.match(r'(.+?)\s+(\S+:\S+)\s+(-?\d+)\s+(\S*)\s+(.*)', line)
        if m: out.setdefault(m.group(2), {})[m.group(1)] = m.group(4).replace('$', m.group(1))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--site', default=str(root/'_site'))
    ap.add_argument('--shots', default=str(root/'_site_shots'))
    ap.add_argument('--chromium', default='/usr/bin/chromium')
    ap.add_argument('--chromedriver', default='/usr/bin/chromedriver')
    ap.add_argument('--strict', action='store_true', default=os.environ.get('DOCS_STRICT', '') not in ('', '0'),
                    help="fail on the content lists too (default: DOCS_STRICT's value)")
    args = ap.parse_args()
    site, shots = Path(args.site), Path(args.shots)
    if not (site/'index.html').exists(): sys.exit(f'{site}/index.html not found: run python tools/build_docs.py first')
    manifest = json.loads((site/'docs-manifest.json').read_text())
    audit = json.loads((site/'docs-audit.json').read_text())
    shots.mkdir(parents=True, exist_ok=True)
    for old in shots.glob('*.png'): old.unlink()
    t0 = time.time()
    srv, base = serve(site)
    problems, content = [], {}            # content: {what: [items]} for the notebooks' and docstrings' authors
    def note(kind, item): content.setdefault(kind, []).append(item)
    n_links = n_ext = 0
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob('*.html') if not p.relative_to(site).parts[0].startswith('_'))
    results, shot_paths, contrast_rows = [], [], []
    with tempfile.TemporaryDirectory() as profile, tempfile.TemporaryDirectory() as profile2:
        d = browser(args.chromium, args.chromedriver, profile)
        try:
            # every page, on two browsers at once (each page's checks are independent)
            info, others = {}, []
            def worker(drv, pgs):
                for pg in pgs: info[pg] = check_page(drv, base, pg, problems, note, contrast_rows)
            d2 = browser(args.chromium, args.chromedriver, profile2)
            others.append(d2)
            th = threading.Thread(target=worker, args=(d2, pages[1::2]))
            th.start(); worker(d, pages[0::2]); th.join()
            d2.quit(); others.clear()
            info = dict(sorted(info.items()))
            n_imgs = sum(len(i['imgs']) for i in info.values()); n_warn = sum(i['warnings'] for i in info.values())
            t_pages = time.time() - t0
            problems.sort(); contrast_rows.sort()
            for v in content.values(): v.sort()
            problems += contrast_rows[:40]
            if len(contrast_rows) > 40: problems.append(f'... and {len(contrast_rows) - 40} more texts under {MIN_CONTRAST}:1')

            # links and anchors
            for pg, inf in info.items():
                for href in inf['links']:
                    u = urlsplit(href)
                    if not href.startswith(base):
                        n_ext += u.scheme in ('http', 'https'); continue
                    n_links += 1
                    path = unquote(u.path).lstrip('/') or 'index.html'
                    if path.endswith('/'): path += 'index.html'
                    if not (site/path).is_file(): problems.append(f'{pg}: broken link {href} (no {path})'); continue
                    if u.fragment and path in info and unquote(u.fragment) not in info[path]['ids']:
                        problems.append(f'{pg}: broken link {href} (no #{unquote(u.fragment)} in {path})')

            # structure: the sidebar's sections, the version
            caps = info['index.html']['captions']
            if [c for c in caps if c in SECTIONS] != SECTIONS or caps[-1] != SECTIONS[-1]:
                problems.append(f'sidebar sections are {caps}, expected {SECTIONS} in this order ({SECTIONS[-1]} last)')
            if manifest['version'] not in info['index.html']['brand']:
                problems.append(f'the version {manifest["version"]} is not in the sidebar title "{info["index.html"]["brand"]}"')
            if 'changelog.html' not in info: problems.append('no changelog.html')

            # the API: an entry for every public name, with a [source] link; the API index; objects.inv
            api_links = {(unquote(urlsplit(h).path).lstrip('/'), t) for h, t in info.get('api.html', {}).get('anchors', [])}
            inv = inventory(site)
            for nm, m in manifest['api'].items():
                inf = info.get(m['page'])
                entry = next((e for e in inf['entries'] if e['id'] == m['fullname']), None) if inf else None
                if entry is None: problems.append(f'{nm}: no API entry #{m["fullname"]} on {m["page"]}'); continue
                if m['kind'] != 'attribute' and not any('github.com/' in s and '#L' in s for s in entry['source']):
                    problems.append(f'{nm}: its entry on {m["page"]} has no [source] link to the repository')
                if (m['page'], nm) not in api_links: problems.append(f'{nm}: not linked from api.html to {m["page"]}')
                if m['fullname'] not in inv.get(ROLE[m['kind']], {}):
                    problems.append(f'{nm}: objects.inv has no {ROLE[m["kind"]]} {m["fullname"]}')
            for role in ('py:function', 'py:class', 'py:method'):
                if not inv.get(role): problems.append(f'objects.inv has no {role} entries')

            t_shots = time.time()
            doc_page = manifest['api'].get('Learner.feature_importance', {}).get('page')
            # screenshots
            report_page = next((pg for pg, inf in info.items() if inf['report']), None)
            tutorial = next((pg for pg in pages if pg.startswith('tutorials/')), 'tracker.html')
            shot_paths += shoot(d, f'{base}/index.html', shots, 'index')
            if doc_page: shot_paths += shoot(d, f'{base}/{doc_page}', shots, 'api_entry', 'dl.py')
            shot_paths += shoot(d, f'{base}/api.html', shots, 'api_index')
            shot_paths += shoot(d, f'{base}/{tutorial}', shots, 'tutorial', '.nb-figure')
            if report_page: shot_paths += shoot(d, f'{base}/{report_page}', shots, 'report', '.fi-report')
            t_shots = time.time() - t_shots
            # the site search (last: Sphinx then marks the term on the pages it opens)
            try: results = search(d, base, 'permutation')
            except Exception as e: problems.append(f'search: no results shown ({type(e).__name__}: {e})')
            if doc_page and doc_page not in results:
                problems.append(f'search for "permutation" does not list {doc_page}: {results[:10]}')
            for e in d.get_log('browser'):
                if e['level'] == 'SEVERE': problems.append(f'search: console error: {e["message"]}')

        finally:
            for x in [d, *others]: x.quit()
            srv.shutdown()
    problems += [f'server: {c} for {p}' for c, p in Handler.failed]
    for k, title in (('untyped_none', 'parameters whose default is None, without annotation (the type column stays empty)'),
                     ('no_docment', 'parameters without a docment'), ('no_docstring', 'API objects without a docstring'),
                     ('figures_without_alt', 'figures without `#| fig-alt:` (alt text derived)'),
                     ('test_scaffolding', 'test scaffolding in shown code cells, by notebook cell (add `#| hide`)'),
                     ('empty_sections', 'empty sections, by notebook')):
        if audit.get(k): content[f'build: {title}'] = audit[k]

    print(f'pages loaded: {len(pages)}; internal links checked: {n_links} (external, not followed: {n_ext}); '
          f'images: {n_imgs}; console errors: {sum("console error" in p for p in problems)} '
          f'(warnings: {n_warn}); failed requests: {len(Handler.failed)}')
    print(f'API: {len(manifest["api"])} public names; objects.inv: '
          + ', '.join(f'{len(v)} {k}' for k, v in sorted(inv.items()) if k.startswith('py:')))
    print(f'search "permutation": {len(results)} results' +
          (f', {doc_page} (documents Learner.feature_importance) is #{results.index(doc_page)+1}' if doc_page in results else ''))
    print(f'time: {time.time()-t0:.1f}s (pages {t_pages:.1f}s, screenshots {t_shots:.1f}s); screenshots:', len(shot_paths), 'in', shots.relative_to(root) if shots.is_relative_to(root) else shots)
    if content:
        print(f'\n{"CONTENT PROBLEMS" if args.strict else "to fix in the notebooks and docstrings (warnings; --strict or DOCS_STRICT=1 fails on them)"}:')
        for k, v in content.items():
            print(f'  {k}: {len(v)}'); print('\n'.join('    ' + x for x in v[:60]))
            if len(v) > 60: print(f'    ... and {len(v) - 60} more (all in {site.name}/docs-audit.json)')
    if args.strict: problems += [f'{k}: {len(v)}' for k, v in content.items()]
    if problems:
        print(f'\nFAILED: {len(problems)} problems'); print('\n'.join('  ' + p for p in problems[:200]))
        sys.exit(1)
    print(f'docs check passed ({time.time()-t0:.1f}s: pages {t_pages:.1f}s, screenshots {t_shots:.1f}s)')


if __name__ == '__main__': main()
