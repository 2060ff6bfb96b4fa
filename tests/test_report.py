"""Text explanations on one stated scale, words as the note wrote them, and the case report (`fastinterp.report`): known
answers, bad input, no side effects, and the report opened offline in a real browser (headless Chromium, Debian's package)."""
import copy, html, io, os, re, shutil, tempfile
from pathlib import Path
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from fastai.vision.all import Learner, accuracy, set_seed
from fastinterp.all import ArgumentError, explanation_html, explanation_report, text_scale, text_words
from fastinterp.results import finish
from fastinterp.synth import synth_text_learner, synth_df, square_images, image_dls, small_cnn
from helpers import chip_colours, chip_strength, contrast_ratio, css_rgb

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT/'_shots'
CHROMIUM, CHROMEDRIVER = Path('/usr/bin/chromium'), Path('/usr/bin/chromedriver')

# two clinical-style notes: A has the word the synthetic model learned ('family'), B has not
NOTE_A = "Patient seen with family visit today, ALL questions answered and resting"
NOTE_B = "Patient is oriented and calm, discharged in two weeks."


@pytest.fixture(scope='module')
def text_learn(): return synth_text_learner()


@pytest.fixture(scope='module')
def notes(text_learn): return text_learn.explain([NOTE_A, NOTE_B])


@pytest.fixture(scope='module')
def row_expl(clf_learn): return clf_learn.explain(synth_df(2000).iloc[3], seed=0)


@pytest.fixture(scope='module')
def img_expl():
    "Grad-CAM of a class-1 image of the bright-square data, on the small CNN of the notebooks"
    set_seed(0, reproducible=True)
    imgs, labels, masks = square_images(400, size=32, square=6, seed=0)
    learn = Learner(image_dls(imgs, labels, bs=32, device='cpu'), small_cnn(), metrics=accuracy)
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(5, 1e-2)
    i = int(np.flatnonzero(labels == 1)[0])
    return learn.explain(imgs[i])


def spans(h):
    "(attribution, style, word) of each word drawn in an explanation's HTML"
    return [(float(v), st, html.unescape(w)) for v, st, w in
            re.findall(r'<span class="fi-tok" data-attribution="([^"]+)" title="[^"]*" style="([^"]*)">([^<]*)</span>', h)]


def background(style): return style.split(';')[0].split(':', 1)[1]


def text_table(values, words):
    "A two-text explanation table with given attributions, as `TextLearner.explain` returns for a list"
    n = [len(v) for v in values]
    df = pd.DataFrame({'text': np.repeat(np.arange(len(values)), n), 'position': np.concatenate([np.arange(k) for k in n]),
                       'token': sum(words, []), 'attribution': np.concatenate(values), 'special': False, 'known': True})
    df['target'], df['prediction'], df['base_value'], df['convergence_delta'] = 'pos', 0.5, 0.1, 0.
    return finish(df, 'explain_text', method='IntegratedGradients on embeddings')


def test_every_tabular_case_adds_up(clf_learn):
    "Each case of a many-row report is one explained row: its prediction is its base value plus its own contributions"
    e = clf_learn.explain(synth_df(50, seed=4).drop(columns='y').iloc[:4], seed=0)
    h = explanation_report(e).html
    preds = re.findall(r'<dt>prediction</dt><dd><b>([^<]+)</b>', h)
    sums = re.findall(r'base value \+ sum = ([^;)]+)', h)
    fct.test_eq(len(preds), 4)
    fct.test_eq(preds, sums)                               # exact Shapley values (5 features): they add up to 4 digits
    fct.test_eq(preds, [f'{p:.4g}' for p in e.groupby('row', sort=False).prediction.first()])


# ---------------------------------------------------------------- one scale
def test_same_attribution_same_colour_in_both_texts():
    "Text 0's largest word carries 0.4, text 1's 0.1; 'calm' carries 0.1 in both. On one scale both are a quarter green;"
    "each on its own scale (the old drawing), text 1's would be full green."
    t = text_table([np.array([0.4, 0.1]), np.array([0.1, 0.05])], [['family', 'calm'], ['calm', 'today']])
    sp = spans(explanation_html(t, as_str=True))
    fct.test_eq([w for _, _, w in sp], ['family', 'calm', 'calm', 'today'])
    fct.test_eq(background(sp[1][1]), background(sp[2][1]))
    strength = lambda st: chip_strength(chip_colours(st)[0])
    fct.test_close(strength(sp[1][1]), (1, 0.25), eps=1/255)          # 1/255: a channel is rounded to an integer
    fct.test_eq(strength(sp[0][1]), (1, 1.))
    # one text of the two: still the scale of both; alone, its own
    fct.test_close(strength(spans(explanation_html(t, text=1, as_str=True))[0][1]), (1, 0.25), eps=1/255)
    fct.test_eq(strength(spans(explanation_html(t[t.text == 1], as_str=True))[0][1]), (1, 1.))
    # a fixed scale across calls, and negative attributions in the second colour
    t2 = text_table([np.array([-0.2, 0.1])], [['pain', 'calm']])
    sp2 = spans(explanation_html(t2, scale=0.4, as_str=True))
    fct.test_close(np.array([strength(s) for _, s, _ in sp2], dtype=float), np.array([(-1, 0.5), (1, 0.25)]), eps=1/255)   # arrays: older fastcore's test_close doesn't recurse into tuples


def test_chips_readable_on_any_page():
    "Every word and legend swatch sets its own opaque background and a text colour with WCAG contrast >= 4.5 on it, from"
    "faint to full colour, both signs: the page's own colours (light or dark) don't matter"
    vals = np.linspace(-1, 1, 81)
    t = text_table([vals], [[f'w{i}' for i in range(len(vals))]])
    h = explanation_html(t, scale=1., as_str=True)
    swatches = re.findall(r'<span class="fi-swatch" style="([^"]*)">([^<]*)</span>', h)
    fct.test_eq(len(swatches), 5)
    chips = [(v, st) for v, st, _ in spans(h)] + [(float(x), st) for st, x in swatches]
    for v, st in chips:
        bg, fg = chip_colours(st)
        assert contrast_ratio(bg, fg) >= 4.5, (v, st)
        sign, strength = chip_strength(bg)
        fct.test_eq(sign, np.sign(v))                    # green for +, red for -, white for 0
        fct.test_close(strength, min(1, abs(v)), eps=1/255)              # 1/255: a channel is rounded to an integer
    # the special tokens, drawn small, keep the chip's own text colour
    for _, st, _ in spans(explanation_html(t.assign(special=True), show_special=True, as_str=True)):
        bg, fg = chip_colours(st); assert 'font-size:70%' in st and contrast_ratio(bg, fg) >= 4.5, st


def test_two_notes_share_a_scale(notes):
    h = explanation_html(notes, as_str=True)
    sp = spans(h)
    words = text_words(notes)
    s = float(re.search(r'data-scale="([^"]+)"', h)[1])
    fct.test_close(s, words.attribution[words.drawn].abs().max(), eps=1e-5)      # the largest |word| of both notes
    for v, st, _ in sp:
        sign, strength = chip_strength(chip_colours(st)[0])
        if sign: fct.test_eq(sign, np.sign(v))          # white (|v| < scale/510) has no hue
        fct.test_close(strength, min(1, abs(v)/s), eps=1/255)            # 1/255: a channel is rounded to an integer
    # note B has no trigger: on A's scale none of its words is more than a faint tint
    b = words[(words.text == 1) & words.drawn]
    assert b.attribution.abs().max() < 0.1*s, (b.attribution.abs().max(), s)
    assert 'full colour at ±' in h and 'the largest |attribution| of the 2 texts drawn' in h


def test_header_adds_up(notes):
    "class, prediction and base value as the explanation has them, and base + sum of attributions = prediction (within delta)"
    h = explanation_html(notes, as_str=True)
    heads = re.findall(r'class <b>([^<]+)</b>: prediction <b>([^<]+)</b> = base value (\S+) \+ word values (\S+) '
                       r"\(to within ([^,]+), the integral's numerical error\)", h)
    first = notes.groupby('text')[['target', 'prediction', 'base_value', 'convergence_delta']].first()
    fct.test_eq(len(heads), 2)
    for (tgt, pred, base, tot, delta), (_, r) in zip(heads, first.iterrows()):
        fct.test_eq(tgt, r.target)
        fct.test_eq(pred, f'{r.prediction:.4g}'); fct.test_eq(base, f'{r.base_value:.4g}')
        fct.test_close(float(base) + float(tot), float(pred), eps=float(delta) + 1e-3)


# ---------------------------------------------------------------- words as written
def test_words_as_the_note_wrote_them(notes):
    words = text_words(notes)
    a = words[(words.text == 0) & words.drawn]
    fct.test_eq(a.word.iloc[0], 'Patient')
    assert 'ALL' in set(a.word) and not any(w.startswith('xx') for w in words.word[words.drawn])
    fct.test_eq(a.word[a.attribution.abs().idxmax()], 'family')              # the model's trigger is the top word
    fct.test_close(words.groupby('text').attribution.sum().to_numpy(), notes.groupby('text').attribution.sum().to_numpy(), eps=1e-12)
    h = explanation_html(notes, as_str=True)
    drawn = [w for _, _, w in spans(h)]
    assert 'Patient' in drawn and 'xxmaj' not in drawn and 'xxbos' not in drawn
    assert 'not drawn: start-of-text mark' in h and 'count towards the word they mark' in h and 'xxbos' not in h
    drawn_special = [w for _, _, w in spans(explanation_html(notes, show_special=True, as_str=True))]
    fct.test_eq(drawn_special, list(notes.token))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize('call, match', [
    (lambda n: explanation_html(pd.DataFrame({'x': [1]})), r"without the columns \['attribution', 'token'\]"),
    (lambda n: explanation_html(n, scale=0), r'scale must be a number in \(0, inf\)'),
    (lambda n: explanation_html(n, scale=-1.), r'scale must be a number in \(0, inf\)'),
    (lambda n: explanation_html(n, text=5), 'Text 5 is not in this explanation'),
    (lambda n: explanation_report(), 'needs at least one explanation'),
    (lambda n: explanation_report([]), 'needs at least one explanation'),
    (lambda n: explanation_report(pd.DataFrame({'x': [1]})), r"got a DataFrame with columns \['x'\]"),
    (lambda n: explanation_report(n, scale=0.), r'scale must be a number in \(0, inf\)'),
    (lambda n: explanation_report(n, path='/no/such/folder/case.html'), "The folder '/no/such/folder' does not exist"),
    (lambda n: explanation_report(n.iloc[:0]), 'Case 0 is an empty explanation'),
    (lambda n: explanation_report(np.zeros(3)), 'got a ndarray'),
])
def test_bad_input(notes, call, match):
    with pytest.raises(ArgumentError, match=match): call(notes)


def test_report_changes_nothing_it_is_given(notes, row_expl, img_expl):
    before = [copy.deepcopy(x) for x in (notes, row_expl)]
    maps = img_expl['map'].copy(), img_expl['image'].copy(), img_expl['frame'].copy(), dict(img_expl['frame'].attrs)
    explanation_report(notes, row_expl, img_expl)
    for b, x in zip(before, (notes, row_expl)):
        pd.testing.assert_frame_equal(b, x); fct.test_eq(b.attrs, x.attrs)
    fct.test_eq(img_expl['map'], maps[0]); fct.test_eq(img_expl['image'], maps[1])
    pd.testing.assert_frame_equal(img_expl['frame'], maps[2]); fct.test_eq(img_expl['frame'].attrs, maps[3])


# ---------------------------------------------------------------- in a real browser
def _missing(why:str):
    "Skip when a browser is not at hand; fail in CI, which sets FASTINTERP_NEED_BROWSER=1 after installing one"
    if os.environ.get('FASTINTERP_NEED_BROWSER')=='1': pytest.fail(why)
    pytest.skip(why)

def chrome():
    "A headless Chromium driven by selenium, or a skip that says what is missing"
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        _missing(f"{CHROMIUM} or {CHROMEDRIVER} is missing: apt-get install chromium chromium-driver (CI: .ci/browser)")
    try: from selenium import webdriver
    except ImportError: _missing("selenium is not installed (pip install selenium; it is in settings.ini's dev_requirements)")
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = str(CHROMIUM)
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
              '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', f'--user-data-dir={tempfile.mkdtemp()}',
              '--window-size=1100,900'):
        o.add_argument(a)
    o.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=o)


def open_and_shoot(driver, page:Path, png:Path) -> dict:
    "Open `page`, take a screenshot of all of it to `png` (and a copy in _shots/), and return what the page showed"
    driver.get(page.as_uri())
    height = driver.execute_script('return document.documentElement.scrollHeight')
    driver.set_window_size(1100, min(height + 120, 8000))
    driver.save_screenshot(str(png))
    SHOTS.mkdir(exist_ok=True)
    shutil.copy(png, SHOTS/png.name)
    return dict(text=driver.execute_script('return document.body.innerText'),
                log=[e for e in driver.get_log('browser') if e['level'] in ('SEVERE', 'WARNING')],
                fetched=driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"),
                images=driver.execute_script('return Array.from(document.images).map(i => [i.complete, i.naturalWidth])'))


def test_report_in_a_browser(notes, row_expl, img_expl, tmp_path):
    page = tmp_path/'case_report.html'
    rep = explanation_report(notes, row_expl, img_expl, path=page, title='Case report: two notes, a row and an image')
    assert page.read_text() == rep.html
    fct.test_eq([k for k, _ in rep.cases], ['text', 'tabular', 'image'])
    d = chrome()
    try:
        seen = open_and_shoot(d, page, tmp_path/'report_text_tabular_image.png')
        fct.test_eq(seen['log'], [])                                    # no console errors, no blocked loads
        fct.test_eq(seen['fetched'], [])                                # nothing fetched: the page is self-contained
        assert len(seen['images']) == 2 and all(ok and w > 0 for ok, w in seen['images']), seen['images']
        text = seen['text']
        # the predictions and bases, as the explanations have them
        for r in notes.groupby('text')[['prediction', 'base_value']].first().itertuples():
            assert f'prediction {r.prediction:.4g} = base value {r.base_value:.4g}' in text
        assert f"{row_expl.attrs['prediction']:.4g}" in text and f"{row_expl.attrs['base_value']:.4g}" in text
        assert f"{img_expl['frame'].probability[0]:.4g} (probability of 1)" in text
        # the top words, as the notes wrote them; the top features with their raw values
        assert 'Patient seen with family visit today, ALL questions answered and resting' in text
        for w in ('xxmaj', 'xxbos', 'xxup', 'xxrep', 'carry_grad', 'token_step_budget', 'log_odds', 'convergence delta'):
            assert w not in text, w                                      # no fastai marks, no raw setting names
        for f, v in zip(row_expl.feature[:2], row_expl.value[:2]):
            assert f in text and (v if f in row_expl.attrs['categorical'] else f'{float(v):.4g}') in text   # `value` is text
        for s in ('What this shows.', "What it doesn't.", 'Grad-CAM', 'Shapley values', 'integrated-gradients', 'fastinterp ',
                  'Details: method and settings', 'predicted class'):
            assert s in text, s
        assert 'Steps along the path' not in text                        # the settings are folded: a click opens them
        d.execute_script("document.querySelectorAll('details').forEach(e => e.open = true)")
        opened = d.execute_script('return document.body.innerText')
        for s in ('Steps along the path from the baseline', 'integrated gradients on the word embeddings', 'Grad-CAM'):
            assert s in opened, s
        # the same attribution has the same colour in both notes, as the browser computes it
        colours = d.execute_script("""return Array.from(document.querySelectorAll('.fi-tok')).map(s =>
            [s.closest('.fi-text-one').dataset.text, s.textContent, getComputedStyle(s).backgroundColor,
             s.dataset.attribution, getComputedStyle(s).color])""")
        scale = float(re.search(r'data-scale="([^"]+)"', rep.html)[1])
        for t, w, c, v, ink in colours:                                  # every word of both notes on the one scale
            sign, strength = chip_strength(css_rgb(c))
            if sign: fct.test_eq(sign, np.sign(float(v)))
            fct.test_close(strength, min(1, abs(float(v))/scale), eps=1/255)   # 1/255: a channel is rounded to an integer
            assert contrast_ratio(css_rgb(c), css_rgb(ink)) >= 4.5, (w, c, ink)   # readable, as the browser draws it
        by_word = {(t, w): c for t, w, c, v, _ in colours}
        fam = [c for (t, w), c in by_word.items() if w == 'family']
        fct.test_eq(fam, ['rgb(0, 160, 0)'])                             # the largest word of both: full green
        tips = d.execute_script("return Array.from(document.querySelectorAll('.fi-tok')).map(s => [s.textContent, s.title])")
        top = notes.attribution[notes.token == 'family'].item()
        assert ['family', f'family: {top:+.4g}'] in tips                  # hovering a word gives its value
        assert any(w == 'Patient' and t.startswith('Patient: ') and ' = capital-letter mark ' in t for w, t in tips)   # what was folded in
    finally: d.quit()


def test_two_texts_one_scale_in_a_browser(notes, tmp_path):
    page = tmp_path/'two_notes.html'
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"><title>two notes</title></head><body>'
                    + explanation_html(notes, as_str=True) + '<hr>' + explanation_html(notes, show_special=True, as_str=True)
                    + '</body></html>', encoding='utf-8')
    d = chrome()
    try:
        seen = open_and_shoot(d, page, tmp_path/'two_notes_one_scale.png')
        fct.test_eq(seen['log'], []); fct.test_eq(seen['fetched'], [])
        assert 'Patient seen with family visit today, ALL questions answered and resting' in seen['text']
        assert 'Patient is oriented and calm, discharged in two weeks.' in seen['text']
        assert 'xxmaj patient' in seen['text']                              # the second drawing: every token, as requested
    finally: d.quit()


# ---------------------------------------------------------------- on paper (issue 29 §3)
AMES_CONTS = ['OverallQual', 'GrLivArea', 'YearBuilt', 'TotalBsmtSF', 'GarageCars', 'LotArea']


def ames_like(n:int=600, seed:int=0) -> pd.DataFrame:
    "A small table shaped like Ames housing (a few of its columns, generated): log sale price from quality, size, age, place"
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({'Neighborhood': rng.choice(['NAmes', 'CollgCr', 'OldTown', 'Edwards', 'Somerst'], n),
                       'CentralAir': rng.choice(['Y', 'N'], n, p=[0.9, 0.1]), 'OverallQual': rng.integers(1, 11, n).astype(float),
                       'GrLivArea': rng.normal(1500, 400, n).clip(400), 'YearBuilt': rng.integers(1880, 2010, n).astype(float),
                       'TotalBsmtSF': rng.normal(1000, 300, n).clip(0), 'GarageCars': rng.integers(0, 4, n).astype(float),
                       'LotArea': rng.lognormal(9.1, 0.4, n)})
    place = df.Neighborhood.map({'NAmes': 0., 'CollgCr': .1, 'OldTown': -.15, 'Edwards': -.1, 'Somerst': .15})
    df['LogPrice'] = (.1*df.OverallQual + .0004*(df.GrLivArea-1500) + .003*(df.YearBuilt-1950) + place
                      + .1*(df.CentralAir == 'Y') + .05*rng.normal(size=n))    # log(price) - 12, about
    return df


@pytest.fixture(scope='module')
def ames_row():
    "One explained row of a regression on the Ames-like table: 8 features, so its Shapley values are sampled (se > 0)"
    from fastai.tabular.all import TabularDataLoaders, tabular_learner, Categorify, FillMissing, Normalize
    df = ames_like()
    set_seed(0, reproducible=True)
    dls = TabularDataLoaders.from_df(df, y_names='LogPrice', cat_names=['Neighborhood', 'CentralAir'], cont_names=AMES_CONTS,
                                     procs=[Categorify, FillMissing, Normalize], bs=64, valid_idx=list(range(450, 600)))
    learn = tabular_learner(dls, layers=[32, 16])
    with learn.no_bar(), learn.no_logging(): learn.fit_one_cycle(4, 1e-2)
    return learn.explain(df.drop(columns='LogPrice').iloc[460], seed=0, n_background=30, n_samples=8)


def test_sampled_row_has_se_and_says_what_whiskers_are(ames_row, row_expl):
    "Sampled contributions: an se column with the result's own numbers and one sentence on the whiskers; enumerated: neither"
    h = explanation_report(ames_row).html
    assert (ames_row.se > 0).all()
    rows = re.findall(r'<tr><td>([^<]+)</td><td>[^<]*</td><td class="fi-num fi-(?:pos|neg)">([^<]+)</td><td class="fi-num">([^<]+)</td></tr>', h)
    fct.test_eq(rows, [(f, f'{c:+.4g}', f'{s:.4g}') for f, c, s in zip(ames_row.feature, ames_row.contribution, ames_row.se)])
    assert '<th title="standard error">se</th>' in h and 'black whiskers on the bars' in h
    shown = dict(re.findall(r'<tr><td>([^<]+)</td><td>([^<]*)</td><td class="fi-num', h))
    fct.test_eq(shown['YearBuilt'], str(int(float(ames_row.value[ames_row.feature == 'YearBuilt'].item()))))   # 1889, not 1.889e+03
    fct.test_eq(shown['LotArea'], f"{float(ames_row.value[ames_row.feature == 'LotArea'].item()):.0f}")         # whole, not 2.13e+04
    assert 'predicted class' not in h                                    # a regression has no class
    h2 = explanation_report(row_expl).html                               # 5 features: enumerated, no sampling error
    assert (row_expl.se.fillna(0) == 0).all() and '>se</th>' not in h2 and 'whiskers' not in h2
    assert f"<dt>predicted class</dt><dd><b>{row_expl.attrs['predicted']}</b></dd>" in h2


def test_text_predicted_class_and_phrase_tables(notes, text_learn):
    "Each text's predicted class is the model's argmax (attrs['predicted']); a phrase-level frame titles its tables so"
    with text_learn.no_bar(): preds, _ = text_learn.get_preds(dl=text_learn.dls.test_dl([NOTE_A, NOTE_B]))
    vocab = list(text_learn.dls.vocab[-1])
    fct.test_eq(notes.attrs['predicted'], [vocab[i] for i in preds.argmax(1).tolist()])
    h = explanation_report(notes).html
    for t, p in enumerate(notes.attrs['predicted']): assert re.search(rf'<b>Text {t}</b> ·[^\n]*?· predicted class <b>{p}</b>', h)
    # a frame one row per phrase (the word frame's schema, the phrase in `token`), as explain(text, level='phrase') gives
    words = text_words(notes)
    w = words[(words.text == 0) & words.drawn].reset_index(drop=True)
    ph = pd.DataFrame({'token': [w.word[i] + ' ' + w.word[i+1] for i in range(0, len(w)-1, 2)],
                       'attribution': [w.attribution[i] + w.attribution[i+1] for i in range(0, len(w)-1, 2)],
                       'special': False, 'known': True,
                       'start': pd.array([w.start[i] for i in range(0, len(w)-1, 2)], dtype='Int64'),
                       'end': pd.array([w.end[i+1] for i in range(0, len(w)-1, 2)], dtype='Int64')})
    ph = finish(ph, 'explain_text', target='pos', prediction=0.5, base_value=0.1, texts=[NOTE_A], level='phrase', predicted=['pos'])
    hp = explanation_report(ph).html
    assert 'Phrases towards class pos' in hp and 'Phrases away from class pos' in hp and 'Words towards' not in hp
    top = ph.sort_values('attribution', ascending=False).token.iloc[0]
    assert re.search(r'Phrases towards class pos[^<]*</caption>.*?<td [^>]*>1</td><td [^>]*>' + re.escape(html.escape(top)) + '<', hp)


def _luminance(css:str) -> float:
    "Relative luminance (WCAG) of a computed CSS colour 'rgb(r, g, b)'"
    c = [int(v)/255 for v in re.findall(r'\d+', css)[:3]]
    c = [v/12.92 if v <= 0.03928 else ((v+0.055)/1.055)**2.4 for v in c]
    return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]


def _contrast(a:str, b:str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la+0.05)/(lb+0.05)


def test_report_prints_one_page_per_case(notes, ames_row, img_expl, tmp_path):
    "Two notes, an Ames-like row and an image, printed to PDF by Chromium on A4 and Letter: one page per case, nothing cut"
    import base64
    try: import pypdf
    except ImportError: _missing("pypdf is not installed (pip install pypdf; it is in settings.ini's test_requirements)")
    page = tmp_path/'printed_report.html'
    rep = explanation_report(notes, ames_row, img_expl, path=page, title='Case report: two notes, a house and an image')
    fct.test_eq([k for k, _ in rep.cases], ['text', 'tabular', 'image'])
    d = chrome()
    try:
        d.get(page.as_uri())
        looks = {}
        for mode in ('light', 'dark'):       # the report's own colours, as the browser computes them, read in both modes
            d.execute_cdp_cmd('Emulation.setEmulatedMedia', {'features': [{'name': 'prefers-color-scheme', 'value': mode}]})
            looks[mode] = d.execute_script("""const s = getComputedStyle(document.querySelector('.fi-report'));
                return [s.color, s.backgroundColor, getComputedStyle(document.body).backgroundColor]""")
            d.set_window_size(1100, min(d.execute_script('return document.documentElement.scrollHeight') + 120, 8000))
            SHOTS.mkdir(exist_ok=True); d.save_screenshot(str(SHOTS/f'printed_report_{mode}.png'))
        d.execute_cdp_cmd('Emulation.setEmulatedMedia', {'features': []})
        pdfs = {}
        for paper, (w, h) in {'A4': (8.27, 11.69), 'Letter': (8.5, 11.0)}.items():   # background graphics off, as browsers default
            pdfs[paper] = base64.b64decode(d.execute_cdp_cmd('Page.printToPDF', {'paperWidth': w, 'paperHeight': h,
                                                                                 'printBackground': False})['data'])
            (SHOTS/f'printed_report_{paper}.pdf').write_bytes(pdfs[paper])
    finally: d.quit()
    fct.test_eq(looks['light'][1], 'rgb(255, 255, 255)'); fct.test_eq(looks['dark'][1], 'rgb(23, 25, 29)')
    for mode, (fg, bg, body) in looks.items():
        fct.test_eq(body, bg)                                            # the page around the report matches it
        assert _contrast(fg, bg) >= 7, (mode, fg, bg)                    # WCAG AAA for body text, in both modes
    words = text_words(notes)
    for paper, pdf in pdfs.items():
        pages = pypdf.PdfReader(io.BytesIO(pdf)).pages
        fct.test_eq(len(pages), len(rep.cases))                          # each case on a page of its own, none spilling over
        texts = [re.sub(r'\s+', '', p.extract_text()) for p in pages]    # what a reader can read, spaces aside
        for i, (t, (_, title)) in enumerate(zip(texts, rep.cases)):
            assert re.sub(r'\s+', '', f'Case {i+1} · {title}') in t, (paper, i)
            for s in ("Whatitdoesn't.", 'Methodandsettings.'): assert s in t, (paper, i, s)   # the case's end is on its page
        # the notes as written, and every row of their word tables: the word and its value
        for note in (NOTE_A, NOTE_B): assert re.sub(r'\s+', '', note) in texts[0], paper
        for k in (0, 1):
            w = words[(words.text == k) & words.drawn]
            top = pd.concat([w[w.attribution > 0].nlargest(10, 'attribution'), w[w.attribution < 0].nsmallest(10, 'attribution')])
            assert len(top) > 0
            for word, v in zip(top.word, top.attribution):
                assert re.sub(r'\s+', '', word) + f'{v:+.3g}' in texts[0], (paper, k, word, v)   # row text: word, then value
        assert 'predictedclass' in texts[0] and 'xxbos' not in texts[0] and 'xxmaj' not in texts[0]
        for f, c, s in zip(ames_row.feature, ames_row.contribution, ames_row.se):     # every feature, contribution and se
            assert f'{f}' in texts[1] and f'{c:+.4g}{s:.4g}' in texts[1], (paper, f)
        assert 'blackwhiskersonthebars' in texts[1] and 'predictedclass' in texts[2]
        assert 'Thispageisself-contained' in texts[-1]
        # colours kept without "background graphics": the word colours are in the first page's drawing
        ops = pages[0].get_contents().get_data().decode('latin1')
        assert '0 .6275 0 rg' in ops and '.8627 0 0 rg' in ops, paper       # rgb(0,160,0) and rgb(220,0,0) fills
