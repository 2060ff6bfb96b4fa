"Phrases and sentences (issue 29 §2): learn.explain(text, level='phrase'|'sentence') and learn.phrase_importance, on a corpus where a planted two-word phrase decides the label while each of its words alone is in both classes (nbs/23a_text_units, nbs/24a_phrases)."
import random
import numpy as np, pandas as pd, pytest, torch
import fastcore.test as fct
from scipy import stats
from fastinterp.all import *
from fastinterp.checks import ArgumentError, DataError
from fastinterp.synth import synth_text_learner, phrase_text_df, synth_learner
from fastinterp.text_units import UNIT_COLUMNS
from fastai.text.core import defaults as text_defaults


@pytest.fixture(scope='module')
def pl():
    "Tiny AWD_LSTM trained on `phrase_text_df`: 'pos' exactly when 'family visit' is in the note; both words are in every note"
    return synth_text_learner(df=phrase_text_df(600), epochs=4)


@pytest.fixture(scope='module')
def notes(): return phrase_text_df(300, seed=1)


@pytest.fixture(scope='module')
def pi(pl, notes): return pl.phrase_importance(list(notes.text), details=True)


def prob_pos(learn, texts):
    "P('pos') of each text, one forward pass per text (no padding, nothing shared with fastinterp's batching)"
    out = []
    with torch.no_grad():
        for t in texts:
            x = learn.dls.test_dl([t]).one_batch()[0].as_subclass(torch.Tensor)
            learn.model.eval(); out.append(float(torch.softmax(learn.model(x)[0], -1)[0, 1]))
    return np.array(out)


def test_corpus_words_in_both_classes(notes):
    "The known answer holds by construction: each word alone is in every note of both classes; the phrase only in 'pos'"
    for w in ('family', 'visit'): assert notes.text.str.contains(rf'\b{w}\b').all()
    fct.test_eq(notes.text.str.contains('family visit').to_numpy(), (notes.label == 'pos').to_numpy())


def test_phrase_importance_finds_the_planted_phrase(pl, pi):
    fi = pi.frame
    fct.test_eq(fi.phrase[0], 'family visit')
    top = fi.set_index('phrase')
    assert top.importance['family visit'] > 0.8, top.importance['family visit']      # occluding it flips the prediction
    for w in ('family', 'visit'):
        # each word alone breaks the phrase in the 'pos' notes and does nothing in the 'neg' ones: about half, clearly below
        assert top.importance[w] < 0.6 * top.importance['family visit'], (w, top.importance[w])
        assert top.ci_high[w] < top.ci_low['family visit'], w
    # longer phrases around it do no more than it: named as explained by it, and listed after every other phrase
    around = fi[fi.phrase.str.contains('family visit') & (fi.n_words == 3)]
    assert len(around) and (around.explained_by == 'family visit').all()
    assert (fi.explained_by.notna().to_numpy() == np.sort(fi.explained_by.notna().to_numpy())).all()
    fct.test_eq(fi.attrs['target'], 'pos')
    fct.test_eq(int(top.n_notes['family visit']), 150)


def test_phrase_importance_against_a_reference(pl, notes, pi):
    "The change of each note, recomputed one note at a time by hand; and the interval from the per-note changes"
    fi, ch = pi.frame, pi.changes
    k = row = int(np.flatnonzero(fi.phrase.to_numpy() == 'family visit')[0])     # changes are in the table's order
    vocab = pl.dls.vocab[0]
    fam, vis, unk = vocab.index('family'), vocab.index('visit'), vocab.index('xxunk')
    cols = [i for i in range(len(notes)) if not np.isnan(ch[row, i])][:12]
    fct.test_eq(len(cols), 12)
    for i in cols:
        x = pl.dls.test_dl([notes.text[i]]).one_batch()[0].as_subclass(torch.Tensor).clone()
        with torch.no_grad():
            base = float(torch.softmax(pl.model.eval()(x)[0], -1)[0, 1])
            hits = [j for j in range(x.shape[1] - 1) if x[0, j] == fam and x[0, j + 1] == vis]
            for j in hits: x[0, j:j + 2] = unk
            occ = float(torch.softmax(pl.model(x)[0], -1)[0, 1])
        # a batch of one note vs a batch of its occluded copies: float32 kernels may differ in the last bits
        fct.test_close(ch[row, i], base - occ, eps=1e-5)
        fct.test_close(pi.predictions[i], base, eps=1e-5)
    d = ch[row][~np.isnan(ch[row])]
    se = d.std(ddof=1) / np.sqrt(len(d)) * stats.t.ppf(0.975, len(d) - 1) / stats.norm.ppf(0.975)
    fct.test_close(fi.importance[k], d.mean(), eps=1e-12)       # the same numbers, the same formula
    fct.test_close(fi.se[k], se, eps=1e-12)
    fct.test_close(fi.ci_low[k], d.mean() - 1.96 * se, eps=1e-12)


def test_explain_phrase_level_per_note(pl):
    "explain(note, level='phrase') puts the planted phrase first for the 'pos' notes"
    test = phrase_text_df(40, seed=5)
    pos = test.text[test.label == 'pos']
    tops = [top_units(pl.explain(t, level='phrase'), 1).token.iloc[0] for t in pos]
    assert np.mean([t == 'family visit' for t in tops]) >= 0.9, tops


def test_explain_levels_schema_and_sums(pl):
    t = 'Seen by nurse today. The family visit went well after lunch, no new pain.\nRested well'
    w = pl.explain(t)
    fct.test_eq(list(w.columns), ['token', 'attribution', 'special', 'known', 'start', 'end'])
    pd.testing.assert_frame_equal(pl.explain(t, level='word'), w)
    for level in ('phrase', 'sentence'):
        u = pl.explain(t, level=level)
        fct.test_eq(list(u.columns), UNIT_COLUMNS)
        fct.test_eq(u.attrs['level'], level); fct.test_eq(u.attrs['texts'], [t])
        fct.test_close(u.attribution.sum(), w.attribution.sum(), eps=1e-9)   # the same numbers summed in another order
        units = u[u.level != 'token']
        assert not units.special.any() and 'xxbos' in set(u.token[u.level == 'token'])
        for a, b, tok in zip(units.start, units.end, units.token): fct.test_eq(t[a:b], tok)   # as written
    s = pl.explain(t, level='sentence')
    fct.test_eq(top_units(s, 1).token[0], 'The family visit went well after lunch, no new pain.')
    fct.test_eq(sorted(s.token[s.level == 'sentence']), sorted(['Seen by nurse today.', 'Rested well',
                                                                'The family visit went well after lunch, no new pain.']))
    many = pl.explain([t, 'family visit'], level='phrase')
    fct.test_eq(list(many.columns[:1]), ['text'])
    fct.test_eq(top_units(many, 1).token.tolist(), ['family visit', 'family visit'])
    d = pl.explain(t, level='phrase', details=True)
    fct.test_eq(len(d.attributions[0]), len(w))             # the per-token arrays stay
    with pytest.raises(ArgumentError, match="level must be one of 'word', 'phrase', 'sentence'"): pl.explain(t, level='words')


def _delete(text, a, b): return ' '.join((text[:a] + ' ' + text[b:]).split())


def _deletion_drops(learn, text, unit, words):
    "Signed drops of P('pos') times the sign of `unit`'s attribution: deleting `unit`, then each phrase of as many words apart from it"
    from fastinterp.text_units import phrase_candidates
    spans = [(words[i][0], words[j - 1][1]) for i, j in phrase_candidates(text, (unit.n_words, unit.n_words), words)]
    spans = [(unit.start, unit.end)] + [s for s in spans if s[1] <= unit.start or s[0] >= unit.end]
    p = prob_pos(learn, [text] + [_delete(text, a, b) for a, b in spans])
    return np.sign(unit.attribution) * (p[0] - p[1:])


def test_deleting_the_top_phrase_is_faithful(pl):
    """Deleting the top phrase moves the prediction the way its attribution says, by more than deleting a random phrase of as
    many words is expected to: on >= 90% of ALL notes (ERASER's comprehensiveness against a random rationale of the same size)

    What is compared, per note: d(top) = sign(attribution) * (P(pos) - P(pos | top phrase deleted)) against the mean of the same
    quantity over every phrase of as many words that doesn't overlap it (the expectation of a uniformly drawn random phrase, with
    no draw noise). Why signed: an attribution claims a direction. Unsigned |change| fails on 'neg' notes for a reason that is
    not the explanation's: P(pos) is ~0.001-0.09 there, so no deletion can lower it by more than that, while deleting the filler
    between 'family' and 'visit' JOINS them into the planted phrase and raises P(pos) to ~0.98: a new phrase the note never held,
    which no attribution of the note's own words can speak for (measured: the unsigned comparison with the mean wins on 70% of
    'neg' notes, 100% of 'pos'; occluding with xxunk instead of deleting, 57%). The signed comparison counts that joining
    against the random phrase, as it should: it moved the prediction the other way. That it can still fail is checked on the
    same notes: the LEAST important phrase (|attribution| smallest, same length) in the top's place wins on about half."""
    from fastinterp.text_units import word_spans
    test = phrase_text_df(60, seed=11)
    top_wins, bottom_wins, pos_abs = [], [], []
    for t in test.text:
        units, words = top_units(pl.explain(t, level='phrase'), 1000), word_spans(t)
        top = units.iloc[0]
        bottom = units[units.n_words == top.n_words].iloc[-1]
        d = _deletion_drops(pl, t, top, words)
        top_wins.append(d[0] > d[1:].mean())
        pos_abs.append(abs(d[0]) > np.abs(d[1:]).mean())
        d = _deletion_drops(pl, t, bottom, words)
        bottom_wins.append(d[0] > d[1:].mean())
    top_wins, bottom_wins, pos = np.array(top_wins), np.array(bottom_wins), (test.label == 'pos').to_numpy()
    # 100% of all notes here, with torch 2.14 and under MKL_CBWR=COMPATIBLE; 90% leaves 6 notes for other kernels' training
    assert top_wins.mean() >= 0.9, (top_wins.mean(), test.label[~top_wins].tolist())
    # in the notes that hold the phrase the top phrase's deletion is also the larger change unsigned (100% here)
    assert np.array(pos_abs)[pos].mean() >= 0.9, np.array(pos_abs)[pos].mean()
    # the control: a phrase the explanation ranks last wins about as often as a coin (53% here); >= 80% would mean the test
    # can't tell a faithful ranking from a useless one (4 standard errors of a coin over 60 notes above one half)
    assert bottom_wins.mean() < 0.8, bottom_wins.mean()


def test_phrase_importance_options(pl, notes):
    texts = list(notes.text[:60])
    given = pl.phrase_importance(texts, phrases=['Family Visit', 'nurse'])
    fct.test_eq(sorted(given.phrase), ['family visit', 'nurse'])
    fct.test_eq(given.attrs['max_phrases'], None)
    two = pl.phrase_importance(texts, n=(2, 2), max_phrases=5, min_notes=3)
    fct.test_eq(set(two.n_words), {2}); assert len(two) <= 5 and (two.n_notes >= 3).all()
    neg = pl.phrase_importance(texts, target='neg', phrases=['family visit'])
    fct.test_close(neg.importance[0], -given.set_index('phrase').importance['family visit'], eps=1e-6)   # P(neg) = 1 - P(pos)
    val = pl.phrase_importance(max_phrases=5)                 # the validation set
    fct.test_eq(val.attrs['n_notes'], len(pl.dls.valid.dataset))
    dl = pl.dls.test_dl(texts)
    pd.testing.assert_frame_equal(pl.phrase_importance(dl, max_phrases=5), pl.phrase_importance(texts, max_phrases=5))


def test_phrase_importance_errors(pl, notes):
    with pytest.raises(ArgumentError, match="not in the model's vocabulary: \\['meeting'\\]"):
        pl.phrase_importance(list(notes.text[:10]), phrases=['family meeting'])
    with pytest.raises(DataError, match='No phrase of 1 to 3 words occurs in 50 or more of the 10 notes'):
        pl.phrase_importance(list(notes.text[:10]), min_notes=50)
    with pytest.raises(ArgumentError, match='n must be the most words of a phrase'):
        pl.phrase_importance(list(notes.text[:10]), n=0)
    with pytest.raises(ArgumentError, match='Text 1 of the list is empty'):
        pl.phrase_importance(['family visit', ' '])
    with pytest.raises(ArgumentError, match='max_phrases must be a positive int'):
        pl.phrase_importance(list(notes.text[:10]), max_phrases=0)
    tab = synth_learner('classification', n=200, epochs=1)
    with pytest.raises(ArgumentError, match='phrase_importance is for fastai text classifiers'): tab.phrase_importance()


def test_phrase_importance_no_side_effects(pl, notes):
    texts = list(notes.text[:30])
    before = list(texts)
    sd = {k: v.clone() for k, v in pl.model.state_dict().items()}
    pl.model.train()
    try:
        random.seed(3); np.random.seed(3); torch.manual_seed(3)
        draws = random.random(), np.random.rand(), torch.rand(1).item()
        random.seed(3); np.random.seed(3); torch.manual_seed(3)
        a = pl.phrase_importance(texts, min_notes=2)
        fct.test_eq((random.random(), np.random.rand(), torch.rand(1).item()), draws)
        assert all(m.training for m in pl.model.modules())
    finally: pl.model.eval()
    fct.test_eq(texts, before)
    for k, v in pl.model.state_dict().items(): assert torch.equal(v, sd[k]), k
    pd.testing.assert_frame_equal(a, pl.phrase_importance(texts, min_notes=2))      # the same call, the same numbers


def test_explain_shapley_awd_lstm(pl):
    "method='shapley' on fastai's AWD_LSTM: efficiency and the definition, enumerated by hand; the planted words on top"
    import itertools, math
    text = 'Seen by nurse, family visit today'
    e = pl.explain(text, method='shapley', details=True)
    x = pl.dls.test_dl([text]).one_batch()[0].as_subclass(torch.Tensor)
    vocab = pl.dls.vocab[0]
    spec = set(text_defaults.text_spec_tok) - {'xxunk'}
    words = [j for j, t in enumerate(x[0].tolist()) if vocab[t] not in spec]
    fct.test_eq(int((~e.frame.special).sum()), len(words))         # every token not special is a player (xxunk too: the comma here)
    F, rows = len(words), []
    subsets = list(itertools.product([0, 1], repeat=F))
    for s in subsets:
        r = x[0].clone()
        for k, on in enumerate(s):
            if not on: r[words[k]] = vocab.index('xxpad')
        rows.append(r)
    with torch.no_grad(): v = dict(zip(subsets, torch.softmax(pl.model.eval()(torch.stack(rows))[0], -1)[:, 1].double().tolist()))
    phi = np.zeros(F)
    for s, val in v.items():
        for k in range(F):
            if not s[k]: phi[k] += math.factorial(sum(s)) * math.factorial(F - 1 - sum(s)) / math.factorial(F) * (v[s[:k] + (1,) + s[k + 1:]] - val)
    # the same game in other batch layouts: float32 noise
    np.testing.assert_allclose(e.frame.attribution[~e.frame.special], phi, atol=1e-5)
    fct.test_close(e.frame.attribution.sum(), v[(1,) * F] - v[(0,) * F], eps=1e-5)      # efficiency
    fct.test_eq(float(e.frame.attribution[e.frame.special].abs().sum()), 0.)               # special tokens are no players
    fct.test_eq(e.frame.attrs['method'], 'exact Shapley values over words')
    fct.test_eq(set(e.frame.nlargest(2, 'attribution').token), {'family', 'visit'})
    fct.test_eq(top_units(pl.explain(text, method='shapley', level='phrase'), 1).token[0], 'family visit')
    with pytest.raises(ArgumentError, match="has 17 words.*pass method='ig'"): pl.explain(' '.join(f'w{i}' for i in range(17)), method='shapley')
