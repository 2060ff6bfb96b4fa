"`learn.explain(text)`: which words drove a text classifier's prediction (integrated gradients on the embeddings), for short texts, texts longer than the model's seq_len, and lists of texts (nbs/24_explain_text)."
import copy, html, json, pickle, random, re, sys
from html.parser import HTMLParser
from types import SimpleNamespace
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from torch import Tensor
from fastinterp.all import *
from fastinterp.checks import ArgumentError
from fastinterp.synth import synth_text_learner, TEXT_FILLER
from fastinterp.explain_text import embedding_layer, ChunkedEmbeddingSub, default_internal_batch_size, native_rnn
from fastinterp.guard import eval_mode
from fastinterp.outputs import activation, output_fn
from fastinterp.results import Result
from fastinterp.plots.text import TextHTML
from helpers import rng_states, same_rng, chip_colours, chip_strength, contrast_ratio


@pytest.fixture(scope='module')
def tl():
    "Tiny AWD_LSTM (seq_len/bptt 16, so any text over 16 tokens is read in chunks): 'pos' exactly when 'family' is in the text"
    return synth_text_learner()


def long_text(n_words=300, seed=1, trigger_at=150, trigger='family'):
    rng = np.random.default_rng(seed)
    w = list(rng.choice(TEXT_FILLER, n_words))
    if trigger_at is not None: w.insert(trigger_at, trigger)
    return ' '.join(w)


def ids_of(learn, text):
    return learn.dls.test_dl([text]).one_batch()[0].as_subclass(Tensor)


def one_pass_ig(learn, text, target=1, n_steps=50, first_pooled=0):
    """Reference: captum's IntegratedGradients on a function that runs the AWD_LSTM once over the whole text's
    embeddings (`from_embeds=True`: no SentenceEncoder, no chunks, no hooks), then the classifier head on the
    outputs from `first_pooled` on (what SentenceEncoder keeps when the text is longer than `max_len`)"""
    import captum.attr as ca
    m = learn.model
    enc, head = m[0], m[1]
    ids = ids_of(learn, text)
    layer = embedding_layer(m, ids)
    with eval_mode(m), torch.no_grad():
        real, base = layer(ids), layer(torch.ones_like(ids))
    mask = (ids == enc.pad_idx)[:, first_pooled:]
    def f(e):
        enc.module.reset()
        out = enc.module(e, from_embeds=True)[:, first_pooled:]
        return torch.softmax(head((out, mask.expand(len(e), -1)))[0].float(), -1)
    try:
        with eval_mode(m), native_rnn():     # the LSTM kernels learn.explain uses (oneDNN's differ in the last digits)
            a = ca.IntegratedGradients(f).attribute(real, baselines=base, target=target, n_steps=n_steps)
    finally: m.reset()
    return a.sum(-1)[0].double().numpy()


def n_chunks(learn, text):
    ids, calls = ids_of(learn, text), []
    layer = embedding_layer(learn.model, ids)
    h = layer.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[1]))
    try:
        with eval_mode(learn.model), torch.no_grad(): learn.model.reset(); learn.model(ids)
    finally: h.remove(); learn.model.reset()
    return len(calls), ids.shape[1]


@pytest.mark.parametrize('ibs', [None, 7])
def test_text_short_equals_one_pass(tl, ibs):
    for s in ['the patient was seen by family today', 'Family rested well after lunch.', 'family family nurse']:
        e = tl.explain(s, internal_batch_size=ibs)
        fct.test_close(e.attribution.to_numpy(), one_pass_ig(tl, s), eps=1e-6)


def test_text_long_equals_one_pass(tl):
    t = long_text()
    k, n = n_chunks(tl, t)
    assert n == 302 and k == 19                  # 19 chunks of <= 16 tokens
    e = tl.explain(t)
    fct.test_eq(len(e), n)
    gap = e.attrs['prediction'] - e.attrs['base_value']
    assert e.attrs['convergence_delta'] < 0.02 * abs(gap), e.attrs     # completeness, to 2% of f(x)-f(baseline)
    fct.test_close(e.attrs['base_value'] + e.attribution.sum(), e.attrs['prediction'], eps=0.02 * abs(gap))
    ref = one_pass_ig(tl, t)
    fct.test_close(e.attribution.to_numpy(), ref, eps=1e-6)
    # fastai's truncated gradient differs from the one-pass integral, and misses part of f(x)-f(baseline)
    nc = tl.explain(t, carry_grad=False)
    assert np.abs(nc.attribution.to_numpy() - ref).max() > 1e-5
    assert nc.attrs['convergence_delta'] > e.attrs['convergence_delta']
    fct.test_eq(nc.attrs['carry_grad'], False)


def test_text_steps_per_pass_change_nothing(tl):
    t = long_text(120, seed=3, trigger_at=60)
    a = tl.explain(t, n_steps=12, internal_batch_size=1, details=True)
    b = tl.explain(t, n_steps=12, details=True)
    fct.test_eq(b.internal_batch_size.tolist(), [default_internal_batch_size(len(b.frame), 12)])
    fct.test_eq(a.internal_batch_size.tolist(), [1])
    fct.test_close(a.frame.attribution.to_numpy(), b.frame.attribution.to_numpy(), eps=1e-6)


@pytest.mark.parametrize('pos', [5, 150, 290])
def test_text_long_trigger_top(tl, pos):
    t = long_text(300, seed=pos, trigger_at=pos)
    e = tl.explain(t)
    fct.test_eq(e.attrs['target'], 'pos')
    top = e.attribution.abs().idxmax()
    fct.test_eq(e.token[top], 'family')
    fct.test_eq(top, pos + 1)                    # after xxbos
    assert e.attribution[top] > 10 * e.attribution.drop(top).abs().max()


@pytest.mark.parametrize('n_words,max_len', [(300, 64), (100, 48)])
def test_text_max_len_tokens_are_credited(tl, n_words, max_len):
    "Tokens before the last max_len are not pooled; with the carried gradient they still get their share"
    t = long_text(n_words, seed=2, trigger_at=n_words // 2)
    enc = tl.model[0]
    ml = enc.max_len
    try:
        enc.max_len = max_len
        c = tl.explain(t, n_steps=20)
        n = tl.explain(t, n_steps=20, carry_grad=False)
    finally: enc.max_len = ml
    sl = n_words + 2
    fp = next(i for i in range(0, sl, enc.bptt) if sl - i <= max_len)
    assert fp > n_words // 2                              # the trigger is outside the pooled window
    ref = one_pass_ig(tl, t, n_steps=20, first_pooled=fp)
    fct.test_close(c.attribution.to_numpy(), ref, eps=1e-6)
    # the chunk before the pooled window gets credit; further back the gradient can underflow to exactly 0
    assert (c.attribution[fp - enc.bptt:fp] != 0).all()
    assert (n.attribution[:fp] == 0).all()                # fastai's truncated gradient: exactly 0
    assert np.abs(n.attribution.to_numpy() - ref).max() > 1e-6
    # completeness needs the early tokens (how much depends on the trained weights: 0.01 to 0.28 of the truncated
    # gradient's delta across torch 2.1-2.14 and fastai 2.8.1-2.8.12)
    assert c.attrs['convergence_delta'] < 0.5 * n.attrs['convergence_delta']


def test_text_list_consistent(tl):
    texts = ['the nurse saw the family', long_text(), 'no new pain reported']
    many = tl.explain(texts, target='neg')
    fct.test_eq(list(many.columns), ['text', 'position', 'token', 'attribution', 'special', 'known', 'start', 'end', 'target',
                                     'prediction', 'base_value', 'convergence_delta'])
    fct.test_eq(many.attrs['texts'], texts)
    fct.test_eq(sorted(many.text.unique()), [0, 1, 2])
    for i, t in enumerate(texts):
        one = tl.explain(t, target='neg')
        part = many[many.text == i].reset_index(drop=True)
        fct.test_eq(list(part.token), list(one.token))
        fct.test_eq(part.position.tolist(), list(range(len(one))))
        fct.test_eq(list(part.special), list(one.special))
        fct.test_eq(list(part.known), list(one.known))
        pd.testing.assert_series_equal(part.start, one.start, check_names=False)
        pd.testing.assert_series_equal(part.end, one.end, check_names=False)
        fct.test_close(part.attribution.to_numpy(), one.attribution.to_numpy(), eps=1e-9)
        for c in ('target', 'prediction', 'base_value', 'convergence_delta'):
            assert (part[c] == one.attrs[c]).all(), c
    # default target: the positive class for every text, also those predicted 'neg'
    d = tl.explain(['no new pain reported', 'the family'])
    fct.test_eq(list(d.groupby('text').target.first()), ['pos', 'pos'])
    assert d[d.text == 0].prediction.iloc[0] < 0.5
    # a tuple, a Series and an array of texts work the same
    s = tl.explain(pd.Series(['the family', 'no pain'], index=[10, 20]))
    fct.test_eq(sorted(s.text.unique()), [0, 1])
    pd.testing.assert_frame_equal(tl.explain(('the family', 'no pain')), s)
    pd.testing.assert_frame_equal(tl.explain(np.array(['the family', 'no pain'])), s)
    one = tl.explain(['the family'])
    fct.test_eq(list(one.columns[:2]), ['text', 'position'])     # a list of one text is still a list


def test_text_list_frame_is_plain(tl):
    many = tl.explain(['the family', long_text(40, trigger_at=None)])
    for df in (many, tl.explain('the family')):
        json.dumps(df.attrs)
        fct.test_eq(df.attrs['analysis'], 'explain_text')
        c = copy.deepcopy(df)
        fct.test_eq(c.attrs, df.attrs)
        pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(df)), df)
    both = pd.concat([many, many])
    fct.test_eq(len(both), 2 * len(many))
    g = many.groupby('text').agg(n=('token', 'size'), delta=('convergence_delta', 'first'), total=('attribution', 'sum'))
    fct.test_eq(g.n.tolist(), [3, 41])
    json.loads(many.to_json(orient='records'))
    sub = many[many.special]
    fct.test_eq(sub.attrs, many.attrs)


def test_text_details(tl):
    texts = ['the family', long_text(50, trigger_at=None)]
    r = tl.explain(texts, details=True)
    assert isinstance(r, Result)
    fct.test_eq(len(r.attributions), 2)
    fct.test_eq(len(r.ids[1]), 51)
    fct.test_eq(r.ids[1].tolist(), ids_of(tl, texts[1])[0].tolist())
    for i in range(2):
        part = r.frame[r.frame.text == i]
        fct.test_eq(r.attributions[i], part.attribution.to_numpy())
        fct.test_eq(r.prediction[i], part.prediction.iloc[0])
        fct.test_eq(r.convergence_delta[i], part.convergence_delta.iloc[0])
    fct.test_eq(r.target.tolist(), [1, 1])
    fct.test_eq(r.internal_batch_size.tolist(), [50, 40])
    fct.test_eq(explanation_html(r, text=1, show_special=True, as_str=True).count('class="fi-tok"'), 51)


def _n_hooks(m):
    return sum(len(x._forward_hooks) + len(x._forward_pre_hooks) for x in m.modules())


def _state(learn):
    m = learn.model
    return dict(modes=[x.training for x in m.modules()],
                flags=(torch.backends.cudnn.enabled, torch.backends.mkldnn.enabled),
                sd={k: v.clone() for k, v in m.state_dict().items()},
                grads=[None if p.grad is None else p.grad.clone() for p in m.parameters()],
                hooks=_n_hooks(m), grad_mode=torch.is_grad_enabled())


def _same_state(a, b):
    fct.test_eq(a['modes'], b['modes'])
    fct.test_eq(a['flags'], b['flags'])
    fct.test_eq(a['hooks'], b['hooks'])
    fct.test_eq(a['grad_mode'], b['grad_mode'])
    for k in a['sd']: assert torch.equal(a['sd'][k], b['sd'][k]), k
    for g, h in zip(a['grads'], b['grads']): assert (g is None and h is None) or torch.equal(g, h)


@pytest.mark.parametrize('fail', [False, True])
def test_text_no_side_effects(tl, monkeypatch, fail):
    import captum.attr
    t = long_text()
    seen = {}
    orig = captum.attr.IntegratedGradients.attribute
    def _attribute(self, inputs, **kw):
        seen['flags'] = torch.backends.cudnn.enabled, torch.backends.mkldnn.enabled
        seen['hooks'] = _n_hooks(tl.model)
        if fail:
            self.forward_func(inputs.expand(2, -1, -1))      # one forward with every hook in place, then fail
            wd = tl.model[0].module.rnns[0]
            seen['alias'] = wd.module.weight_hh_l0.data_ptr() == wd.weight_hh_l0_raw.data_ptr()
            raise RuntimeError('boom inside the attribution')
        return orig(self, inputs, **kw)
    monkeypatch.setattr(captum.attr.IntegratedGradients, 'attribute', _attribute)
    tl.model.train(); tl.model[1].eval()                  # a mixed mode to restore
    try:
        before = _state(tl)
        random.seed(5); np.random.seed(5); torch.manual_seed(5)
        draws = random.random(), np.random.rand(), torch.rand(1).item()
        random.seed(5); np.random.seed(5); torch.manual_seed(5)
        if fail:
            with pytest.raises(RuntimeError, match='boom inside the attribution'): tl.explain([t, 'the family'])
        else: tl.explain([t, 'the family'])
        fct.test_eq((random.random(), np.random.rand(), torch.rand(1).item()), draws)
        _same_state(before, _state(tl))
    finally: tl.model.eval()
    fct.test_eq(seen['flags'], (False, False))          # cuDNN and oneDNN off during the attribution
    if fail: assert seen['alias']                          # the LSTM used the raw weight, not a copy per chunk
    assert seen['hooks'] >= 1 + 2                          # the embedding hook, the carry hooks and the shared weights
    fct.test_eq(_n_hooks(tl.model), 0)
    wd = tl.model[0].module.rnns[0]
    w, raw = wd.module.weight_hh_l0, wd.weight_hh_l0_raw
    assert w.data_ptr() != raw.data_ptr() and torch.equal(w, raw)     # fastai's own copy is back, not our alias
    # the model predicts as before and explain is deterministic
    monkeypatch.undo()
    ids = ids_of(tl, t)
    with torch.no_grad():
        tl.model.reset(); o1 = tl.model(ids)[0]
    e1, e2 = tl.explain(t, n_steps=10), tl.explain(t, n_steps=10)
    with torch.no_grad():
        tl.model.reset(); o2 = tl.model(ids)[0]
    assert torch.equal(o1, o2)
    pd.testing.assert_frame_equal(e1, e2)


def test_text_chunk_hook_checks_ids():
    ids = torch.tensor([[2, 5, 6, 7]])
    sub = ChunkedEmbeddingSub(ids)
    emb = torch.arange(8.).reshape(1, 4, 2)
    sub.start(emb)
    fct.test_eq(sub(None, (ids[:, :2],), torch.zeros(1, 2, 2)), emb[:, :2])
    with pytest.raises(RuntimeError, match='embedded 2 of the text'): sub.check_done()
    with pytest.raises(RuntimeError, match=r'not positions 2:4 of the text'): sub(None, (ids[:, :2],), torch.zeros(1, 2, 2))
    fct.test_eq(sub(None, (ids[:, 2:],), torch.zeros(1, 2, 2)), emb[:, 2:])
    sub.check_done()
    sub.stop()
    out = torch.ones(1, 2, 2)
    assert sub(None, (ids[:, :2],), out) is out        # stopped: the layer's own output


def test_text_bad_input_lists(tl):
    with pytest.raises(ArgumentError, match='Text 1 of the list is a int, not a str'):
        tl.explain(['the family', 3])
    with pytest.raises(ArgumentError, match='Text 2 of the list is empty'):
        tl.explain(['the family', 'no pain', '  '])
    with pytest.raises(ArgumentError, match='The list of texts is empty'):
        tl.explain([])
    with pytest.raises(ArgumentError, match=r'Expected a text \(str\) or a list of texts, got dict'):
        tl.explain({'a': 'the family'})
    with pytest.raises(ArgumentError, match=r"Unknown target 'medium'.*\['neg', 'pos'\]"):
        tl.explain(['the family', long_text()], target='medium')
    with pytest.raises(ArgumentError, match='internal_batch_size must be a positive int or None'):
        tl.explain('the family', internal_batch_size=0)
    with pytest.raises(ArgumentError, match='carry_grad must be True or False'):
        tl.explain('the family', carry_grad=1)
    with pytest.raises(ArgumentError, match='details must be True or False'):
        tl.explain('the family', details='yes')


def test_text_html_many(tl):
    many = tl.explain(['the family', 'no new pain reported'], target='neg')
    both = explanation_html(many, as_str=True)                  # every text, on one scale
    fct.test_eq(both.count('class="fi-text-one"'), 2)
    with pytest.raises(ArgumentError, match='Text 5 is not in this explanation'):
        explanation_html(many, text=5)
    s = explanation_html(many, text=1, as_str=True)
    fct.test_eq(s.count('class="fi-tok"'), 4)                   # no new pain reported (xxbos not drawn)
    assert 'attribution to class neg' in s and '>pain<' in s and '>family<' not in s
    # one text of a list is drawn on the scale of all of them; alone, on its own
    scale = lambda h: float(re.search(r'data-scale="([^"]+)"', h)[1])
    fct.test_eq(scale(explanation_html(many, text=0, as_str=True)), scale(both))
    assert scale(explanation_html(many[many.text == 0], as_str=True)) <= scale(both)
    with pytest.raises(ArgumentError, match='text= is for the explanation of a list of texts'):
        explanation_html(tl.explain('the family'), text=0)


# ---------------------------------------------------------------- short texts: what the explanation says
SENT = "the nurse saw the family after lunch today"


def test_text_trigger_top(tl):
    e = tl.explain(SENT)
    fct.test_eq(list(e.columns), ['token', 'attribution', 'special', 'known', 'start', 'end'])
    fct.test_eq(e.token[e.attribution.abs().idxmax()], 'family')
    assert e.attribution.max() == e.set_index('token').loc['family', 'attribution']
    fct.test_eq(e.attrs['target'], 'pos')
    assert e.attrs['prediction'] > 0.5
    # integrated gradients' completeness, to captum's convergence error
    fct.test_close(e.attrs['base_value'] + e.attribution.sum(), e.attrs['prediction'], eps=0.02)
    e2 = tl.explain("no pain reported by the family and the nurse")
    fct.test_eq(e2.token[e2.attribution.abs().idxmax()], 'family')


def test_text_default_target_is_positive_class(tl):
    "Binary text classifier: 'pos' by default even when the prediction is 'neg', as for tabular explain"
    e = tl.explain("the nurse saw the patient after lunch")
    fct.test_eq(e.attrs['target'], 'pos')
    assert e.attrs['prediction'] < 0.5
    fct.test_eq(tl.explain(SENT, target=-1).attrs['target'], 'pos')
    fct.test_eq(tl.explain(SENT, target=0).attrs['target'], 'neg')


def test_text_target_and_special(tl):
    e = tl.explain("The Nurse saw family", target='neg')
    fct.test_eq(e.attrs['target'], 'neg')
    assert e.set_index('token').loc['family', 'attribution'] < 0
    fct.test_eq(list(e.token[:3]), ['xxbos', 'xxmaj', 'the'])     # special tokens shown, flagged
    fct.test_eq(list(e.special[:3]), [True, True, False])
    fct.test_eq(e.known[e.token == 'saw'].item(), False)          # out of vocabulary: the model saw xxunk


def test_text_embedding_layer_is_the_one_called(tl):
    layer = embedding_layer(tl.model, torch.tensor([[2, 9, 10]]))
    assert layer is tl.model[0].module.encoder_dp        # AWD_LSTM calls encoder_dp, not encoder
    e1 = tl.explain(SENT)
    pd.testing.assert_frame_equal(e1, tl.explain(SENT))   # deterministic


def test_text_bad_input(tl, monkeypatch):
    with pytest.raises(ArgumentError, match='The text is empty'):
        tl.explain("")
    with pytest.raises(ArgumentError, match='The text is empty'):
        tl.explain("   ")
    with pytest.raises(ArgumentError, match=r'Expected a text \(str\) or a list of texts, got int'):
        tl.explain(3)
    with pytest.raises(ArgumentError, match='Text 1 of the list is empty'):
        tl.explain(["a", ""])
    with pytest.raises(ArgumentError, match=r"Unknown target 'medium'.*\['neg', 'pos'\]"):
        tl.explain(SENT, target='medium')
    with pytest.raises(ArgumentError, match='n_steps must be an int of at least 2'):
        tl.explain(SENT, n_steps=1)
    monkeypatch.setitem(sys.modules, 'captum', None)
    monkeypatch.setitem(sys.modules, 'captum.attr', None)
    with pytest.raises(ImportError, match=r'Install it with: pip install "captum>=0.7"'):
        tl.explain(SENT)


def test_text_html(tl):
    e = tl.explain(SENT)
    h = explanation_html(e)
    s = explanation_html(e, as_str=True)
    assert isinstance(h, TextHTML)
    fct.test_eq(str(h), s)
    fct.test_eq(s.count('class="fi-tok"'), len(e) - 1)        # every token a word, xxbos not drawn (named in the header)
    assert '>family<' in s and 'not drawn: start-of-text mark' in s
    fam = re.search(r'style="([^"]*)">family<', s)[1]
    fct.test_eq(chip_strength(chip_colours(fam)[0]), (1, 1.))       # the largest word: full green
    assert contrast_ratio(*chip_colours(fam)) >= 4.5                  # with a text colour that reads on it
    assert 'attribution to class pos' in s
    fct.test_eq(explanation_html(e, show_special=True, as_str=True).count('class="fi-tok"'), len(e))
    assert '&lt;b&gt;' in explanation_html(pd.DataFrame({'token': ['<b>'], 'attribution': [0.1]}), as_str=True)


# ---------------------------------------------------------------- the note as written (issue 29 §1, issue 25 §3)
NOTES = ['BP 120/80', 'Pt c/o chest pain', 'd/c home', 'sat 97%', 'O2 sat 92% RA', 'see <b>', 'x3 days', 'café naïve 5µg',
         'two  spaces   here', 'line\nbreak\n\nand\r\nCRLF', 'tab\there', 'xxrep 987654 ab', 'a &amp; b &lt;i&gt; wait...',
         'Hello!!!! no no no', '  padded family  \n', 'ÇAY İstanbul']


class BodyText(HTMLParser):
    "The text inside each `div.fi-text-body`, character references decoded (what a page shows, with white-space: pre-wrap)"
    def __init__(self, h):
        super().__init__(); self.texts, self.inside = [], False; self.feed(h)
    def handle_starttag(self, tag, attrs):
        if tag == 'div' and ('class', 'fi-text-body') in attrs: self.texts.append(''); self.inside = True
    def handle_endtag(self, tag): self.inside = self.inside and tag != 'div'
    def handle_data(self, d):
        if self.inside: self.texts[-1] += d


class Markup(HTMLParser):
    "Every tag and attribute of a page (what a browser would build from it)"
    def __init__(self, h):
        super().__init__(); self.tags, self.attrs = [], []; self.feed(h)
    def handle_starttag(self, tag, attrs): self.tags.append(tag); self.attrs += attrs


@pytest.fixture(scope='module')
def notes(tl): return tl.explain(NOTES, n_steps=4)


def test_text_drawn_as_written(notes):
    "The drawing is each note character for character, and every drawn stretch carries exactly the tokens inside it"
    h = explanation_html(notes, as_str=True)
    assert '\r' not in h                                  # a raw CR would become a line feed in a browser; &#13; stays CR
    fct.test_eq(BodyText(h).texts, NOTES)
    fct.test_eq(notes.attrs['alignment'], ['exact'] * len(NOTES))
    words = text_words(notes)
    for i, t in enumerate(NOTES):
        w, e = words[words.text == i], notes[notes.text == i]
        d = w[w.drawn]
        fct.test_eq(d.word.tolist(), [t[a:b] for a, b in zip(d.start, d.end)])
        assert (d.start.to_numpy()[1:] >= d.end.to_numpy()[:-1]).all()           # in order, no overlap
        # each stretch's value is the sum of the tokens whose characters lie in it (same numbers, another order: 1e-12)
        for a, b, v in zip(d.start, d.end, d.attribution):
            inside = e[(e.start >= a) & (e.end <= b)]
            fct.test_close(v, inside.attribution.sum(), eps=1e-12)
        # the rest (xxbos) is named in the header, so everything adds up to the tokens' total
        fct.test_eq(w[~w.drawn].tokens.tolist(), ['xxbos'])
        fct.test_close(w.attribution.sum(), e.attribution.sum(), eps=1e-12)
    vals = [float(v) for v in re.findall(r'class="fi-tok" data-attribution="([^"]+)"', h)]
    fct.test_close(np.array(vals), words.attribution[words.drawn].to_numpy(), eps=1e-5)   # printed to 6 significant digits
    by = words.set_index(['text', 'word'])
    fct.test_eq(by.loc[(0, 'BP'), 'tokens'], 'xxup bp')
    fct.test_eq(by.loc[(13, '!!!!'), 'tokens'], 'xxrep 4 !')
    fct.test_eq(by.loc[(13, 'no no no'), 'tokens'], 'xxwrep 3 no')
    fct.test_eq(by.loc[(12, '...'), 'tokens'], '…')                       # fastai's fix_html wrote '...' as '…'
    fct.test_eq(words[(words.text == 11) & words.drawn].word.tolist(), ['xxrep', '987654', 'ab'])   # typed: drawn as typed


def test_text_drawn_as_written_other_views(notes):
    "One text of the list, the tokens' view, and a parquet file keep to the same rule"
    for i in (1, 9, 11):
        fct.test_eq(BodyText(explanation_html(notes, text=i, as_str=True)).texts, [NOTES[i]])
    tok = BodyText(explanation_html(notes, text=0, show_special=True, as_str=True)).texts
    fct.test_eq(tok, [' '.join(notes.token[notes.text == 0])])


def test_text_parquet_round_trip(notes, tmp_path):
    pytest.importorskip('pyarrow')
    notes.to_parquet(tmp_path/'notes.parquet')
    back = pd.read_parquet(tmp_path/'notes.parquet')
    fct.test_eq(back.attrs['texts'], NOTES)
    fct.test_eq(explanation_html(back, as_str=True), explanation_html(notes, as_str=True))


@pytest.mark.parametrize('n', [987654, 5])
def test_text_literal_xxrep_stays_small(tl, n):
    "A note that literally says 'xxrep 987654 ab' is drawn as it says: the page grows with the note, not with the count"
    t = f'pain xxrep {n} ab today'
    e = tl.explain(t, n_steps=4)
    fct.test_eq(list(e.token[1:6]), ['pain', 'xxrep', str(n), 'ab', 'today'])
    bare = e[['token', 'attribution', 'special', 'known']].copy()         # no text stored: rebuilt from the tokens
    bare.attrs = {k: v for k, v in e.attrs.items() if k not in ('texts', 'alignment')}
    sizes = []
    for x in (e, bare):
        for sp in (False, True):
            h = explanation_html(x, show_special=sp, as_str=True)
            assert 'ab' * 10 not in h
            sizes.append(len(h))
    assert max(sizes) < 6000 + 600 * len(e), sizes            # legend and header, then a few hundred characters per token
    fct.test_eq(BodyText(explanation_html(e, as_str=True)).texts, [t])
    assert 'rebuilt from the tokens' in explanation_html(bare, as_str=True)


def test_text_degrades_without_drawing_other_text(notes):
    "A token with no span (not found) or a span that doesn't fit is listed as not drawn; the text stays the note"
    e = notes[notes.text == 4].copy()                        # O2 sat 92% RA
    k = e.index[e.token == '92'][0]
    e.loc[k, ['start', 'end']] = pd.NA
    e.loc[e.index[e.token == 'sat'][0], ['start', 'end']] = [3, 999]
    h = explanation_html(e, as_str=True)
    fct.test_eq(BodyText(h).texts, [NOTES[4]])
    head = re.search(r'not drawn: ([^(]+) \(([^)]+)\)', h)
    fct.test_eq(head[1], 'start-of-text mark, sat, 92')             # fastai's marks named in words
    hidden = e[e.token.isin(['xxbos', 'sat', '92'])].attribution.sum()
    fct.test_close(float(head[2]), hidden, eps=1e-4 * max(1, abs(hidden)))              # printed to 4 significant digits
    assert '1 token span did not fit the text (not drawn)' in h
    w = text_words(e)
    fct.test_close(w.attribution.sum(), e.attribution.sum(), eps=1e-12)


def _fake_dl(*fs): return SimpleNamespace(dataset=SimpleNamespace(tls=[SimpleNamespace(tfms=SimpleNamespace(fs=list(fs)))]))


@pytest.mark.parametrize('text, expected', [
    ('BP 120/80', [None, 'BP', 'BP', '120', '/', '80']),
    ('c/o', [None, 'c', '/', 'o']),
    ('97%', [None, '97', '%']),
    ('O2 sat 92% RA', [None, 'O2', 'O2', 'sat', '92', '%', 'RA', 'RA']),
    ('<b>', [None, '<', 'b', '>']),
    ('x3  days\n', [None, 'x3', 'days']),
    ('a\tb \n c', [None, 'a', '\t', 'b', '\n ', 'c']),
    ('xxrep 987654 ab', [None, 'xxrep', '987654', 'ab']),
    ('Wow!!!! no no no', [None, 'Wow', 'Wow', '!!!!', '!!!!', '!!!!', 'no no no', 'no no no', 'no no no']),
    ('x <br /> &lt;b&gt; ok...', [None, 'x', '<br /> ', '&lt;', 'b', '&gt;', 'ok', '...']),
    ('İstanbul ΟΔΟΣ', [None, 'İstanbul', 'ΟΔΟΣ']),
])
def test_token_spans_known_answers(text, expected):
    from fastai.text.core import Tokenizer, WordTokenizer
    from fastinterp.explain_text import token_spans
    tok = Tokenizer(WordTokenizer())
    toks = list(tok(text))
    spans, note = token_spans(_fake_dl(tok), text, toks)
    fct.test_eq([None if s is None else text[s[0]:s[1]] for s in spans], expected)
    fct.test_eq(note, 'approximate: the characters that lowercase changed were matched to the text by difflib' if 'Σ' in text
                else 'exact')                                 # Greek final sigma lower-cases by context: traced by difflib


def test_token_spans_other_pipelines():
    from fastai.text.core import Tokenizer, WordTokenizer, defaults
    from fastinterp.explain_text import token_spans
    def expand(t): return t.replace('pt', 'patient')
    tok = Tokenizer(WordTokenizer(), rules=[expand] + defaults.text_proc_rules)
    t = 'pt BP 120/80'
    spans, note = token_spans(_fake_dl(tok), t, list(tok(t)))
    fct.test_eq([None if s is None else t[s[0]:s[1]] for s in spans], [None, 'pt', 'BP', 'BP', '120', '/', '80'])
    fct.test_eq(note, 'approximate: the characters that expand changed were matched to the text by difflib')
    spans, note = token_spans(None, t, ['xxbos', 'pt', 'xxup', 'bp', '120', '/', '80'])    # no tokenizer: default rules
    fct.test_eq(spans[1:3], [(0, 2), (3, 5)]); fct.test_eq(note, "found again through fastai's default text rules")
    spans, note = token_spans(_fake_dl(tok), 'no such words', ['xxbos', 'other', 'words'])
    fct.test_eq(spans, [None, None, (8, 13)]); assert note.endswith('1 token could not be found in the text (listed as not drawn)')


EVIL_KEY = 'note "><img src=x onerror=alert(1)>'


def test_text_html_escapes_data(notes):
    "Keys, class names, numbers, notes and words from the data are text, never markup"
    e = notes[notes.text.isin([5, 6])].copy()                          # 'see <b>', 'x3 days'
    e.attrs['alignment'] = ['<i>a note</i>'] * len(NOTES)
    e['target'] = '<img src=y onerror=alert(2)>'
    e['prediction'] = e['prediction'].astype(object)
    e.loc[e.text == 5, 'prediction'] = '"><svg onload=alert(3)>'
    renamed = e.assign(text=e.text.map({5: EVIL_KEY, 6: "k'<u>"}), token=e.token.replace({'b': '<iframe>'}))
    for x in (e, renamed):
        for sp in (False, True):
            th = explanation_html(x, show_special=sp)
            for h in (str(th), th.html):
                m = Markup(h)
                assert set(m.tags) <= {'html', 'head', 'meta', 'title', 'body', 'div', 'span', 'b', 'code'}, set(m.tags)
                assert {a for a, _ in m.attrs} <= {'lang', 'charset', 'http-equiv', 'content', 'class', 'style', 'title',
                                                   'data-attribution', 'data-scale', 'data-text'}, m.attrs
                for bad in ('<img', '<svg', '<iframe', '<i>', '<u>'):
                    assert bad not in h, bad
    h = str(explanation_html(renamed))
    assert ('data-text', EVIL_KEY) in Markup(h).attrs                  # shown, as text
    assert html.escape(EVIL_KEY) in h and '&lt;img src=y onerror=alert(2)&gt;' in h and '&quot;&gt;&lt;svg onload' in h
    assert '&lt;i&gt;a note&lt;/i&gt;' in str(explanation_html(e))   # the alignment note (keys 5 and 6 index the stored texts)
    fct.test_eq(BodyText(str(explanation_html(e, text=5))).texts, ['see <b>'])


def test_text_html_without_ipython(notes, monkeypatch):
    "The same type, markup and page with or without IPython installed"
    with_ip = explanation_html(notes, text=0)
    monkeypatch.setitem(sys.modules, 'IPython', None)
    monkeypatch.setitem(sys.modules, 'IPython.display', None)
    h = explanation_html(notes, text=0)
    assert type(h) is type(with_ip) is TextHTML
    s = explanation_html(notes, text=0, as_str=True)
    fct.test_eq(str(h), s); fct.test_eq(h._repr_html_(), s); fct.test_eq(h.data, s); fct.test_eq(h.html, with_ip.html)
    assert h.html.startswith('<!DOCTYPE html>') and s in h.html
    csp = [v for k, v in Markup(h.html).attrs if k == 'content']
    fct.test_eq(csp, ["default-src 'none'; img-src data:; style-src 'unsafe-inline'"])
