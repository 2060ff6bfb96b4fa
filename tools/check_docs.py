"""Check the built documentation site (`_site/`, from tools/build_docs.py) in a real browser:
`python tools/check_docs.py` (runs itself with .venv-docs's Python when selenium is not importable).

It serves the site on localhost (http.server in a thread), opens every page in headless Chromium
(/usr/bin/chromium through /usr/bin/chromedriver, as Debian's chromium and chromium-driver install them), and fails if
- an internal link is broken: its page does not exist, or the page has no element with the link's #anchor id;
- an image is missing or fails to load (`naturalWidth == 0`), or any request gets a 4xx/5xx from the server;
- the browser logs a console error (SEVERE);
- the site search for "permutation" (typed into the search box) does not list the page documenting
  `feature_importance`.
It saves screenshots to `_site_shots/` (the index: top and first plot; that page: top, first plot, first table)
and prints a summary.
Options: --site DIR, --shots DIR, --chromium PATH, --chromedriver PATH.
"""
import argparse, functools, http.server, os, sys, tempfile, threading, time
from pathlib import Path
from urllib.parse import urlsplit, unquote

root = Path(__file__).resolve().parent.parent

try: import selenium  # noqa: F401
except ImportError:
    py = root/'.venv-docs'/'bin'/'python'
    if py.exists() and Path(sys.prefix).resolve() != py.parent.parent.resolve():
        os.execv(str(py), [str(py), __file__, *sys.argv[1:]])
    sys.exit('selenium is not installed: pip install -r docs/requirements.txt (or run tools/build_docs.py first)')
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

CHROME_FLAGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--disable-dev-shm-usage', '--window-size=1400,1000', '--hide-scrollbars']


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


PAGE_JS = """
const imgs = [...document.images].map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0,
                                             done: i.complete}));
return {ids: [...document.querySelectorAll('[id]')].map(e => e.id).concat(
              [...document.querySelectorAll('a[name]')].map(e => e.name)),
        links: [...document.querySelectorAll('a[href]')].map(a => a.href),
        imgs: imgs,
        api: [...document.querySelectorAll('div.api')].map(b => b.previousElementSibling).filter(h => h && h.tagName == 'H3')
              .map(h => h.textContent.replace(/[#\u00b6]/g, '').trim()),
        title: document.title};
"""


def load(d, url, timeout=20):
    d.get(url)
    WebDriverWait(d, timeout).until(lambda d: d.execute_script('return document.readyState') == 'complete')
    # images: wait until every one has finished (loaded or failed)
    end = time.time() + timeout
    while True:
        info = d.execute_script(PAGE_JS)
        if all(i['done'] for i in info['imgs']) or time.time() > end: return info
        time.sleep(0.1)


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
    d.get(url)
    WebDriverWait(d, 20).until(lambda d: d.execute_script('return document.readyState') == 'complete')
    if scroll_to:
        y = d.execute_script(f"const e = document.querySelector('{scroll_to}'); if (!e) return null;"
                             "const y = Math.max(0, e.getBoundingClientRect().top + window.scrollY - 250);"
                             "window.scrollTo({top: y, behavior: 'instant'}); return y;")
        if y is None: return None
        WebDriverWait(d, 10).until(lambda d: abs(d.execute_script('return window.scrollY') - y) < 2
                                   or d.execute_script('return window.innerHeight + window.scrollY >= document.body.scrollHeight - 2'))
    time.sleep(0.5)
    p = out/f'{name}.png'
    d.save_screenshot(str(p))
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--site', default=str(root/'_site'))
    ap.add_argument('--shots', default=str(root/'_site_shots'))
    ap.add_argument('--chromium', default='/usr/bin/chromium')
    ap.add_argument('--chromedriver', default='/usr/bin/chromedriver')
    args = ap.parse_args()
    site, shots = Path(args.site), Path(args.shots)
    if not (site/'index.html').exists(): sys.exit(f'{site}/index.html not found: run python tools/build_docs.py first')
    shots.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    srv, base = serve(site)
    problems, n_links, n_ext, n_imgs, n_warn = [], 0, 0, 0, 0
    pages = sorted(p.relative_to(site).as_posix() for p in site.glob('*.html'))
    with tempfile.TemporaryDirectory() as profile:
        d = browser(args.chromium, args.chromedriver, profile)
        try:
            info = {}
            for pg in pages:
                info[pg] = load(d, f'{base}/{pg}')
                for e in d.get_log('browser'):
                    if e['level'] == 'SEVERE': problems.append(f'{pg}: console error: {e["message"]}')
                    elif e['level'] == 'WARNING': n_warn += 1
                for i in info[pg]['imgs']:
                    n_imgs += 1
                    if not i['ok']: problems.append(f'{pg}: image did not load: {i["src"]}')
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
            # the page that documents feature_importance, and the site search
            doc_page = next((pg for pg, inf in info.items() if any(h.endswith('feature_importance') for h in inf['api'])), None)
            if doc_page is None: problems.append('no page documents feature_importance (no .api entry)')
            shot_paths = [shoot(d, f'{base}/index.html', shots, 'index'),
                          shoot(d, f'{base}/index.html', shots, 'index_plot', '.nb-figure img')]
            if doc_page:
                nm = Path(doc_page).stem
                shot_paths += [shoot(d, f'{base}/{doc_page}', shots, nm),
                               shoot(d, f'{base}/{doc_page}', shots, f'{nm}_plot', '.nb-figure img'),
                               shoot(d, f'{base}/{doc_page}', shots, f'{nm}_table', 'table.dataframe')]
            try: results = search(d, base, 'permutation')
            except Exception as e: results = []; problems.append(f'search: no results shown ({type(e).__name__}: {e})')
            if doc_page and doc_page not in results:
                problems.append(f'search for "permutation" does not list {doc_page}: {results[:10]}')
            for e in d.get_log('browser'):
                if e['level'] == 'SEVERE': problems.append(f'search: console error: {e["message"]}')
        finally:
            d.quit(); srv.shutdown()
    problems += [f'server: {c} for {p}' for c, p in Handler.failed]
    print(f'pages loaded: {len(pages)}; internal links checked: {n_links} (external, not followed: {n_ext}); '
          f'images: {n_imgs}; console errors: {sum("console error" in p for p in problems)} '
          f'(warnings: {n_warn}); failed requests: {len(Handler.failed)}')
    print(f'search "permutation": {len(results)} results, ' +
          (f'{doc_page} (documents feature_importance) is #{results.index(doc_page)+1}' if doc_page in results
           else f'{doc_page} missing'))
    print('screenshots:', ', '.join(str(p.relative_to(root) if p.is_relative_to(root) else p) for p in shot_paths if p))
    if problems:
        print(f'\nFAILED: {len(problems)} problems'); print('\n'.join('  ' + p for p in problems[:200]))
        sys.exit(1)
    print(f'docs check passed ({time.time()-t0:.1f}s)')


if __name__ == '__main__': main()
