"""Correctness fixes that need more than a notebook cell: each test fails on the code before the fix.
(The others are tested where their code lives: macro-F1 of nothing in 00b_metrics; plain = labelled rows only in
04c_experiment; cached KD under mixup, all-masked batches, AttentionKD padding and the tempered ensemble in 03_distill.)"""
import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from mixed_ft.core import *
from mixed_ft.train import Trainer
from mixed_ft.text import Vocab, TextDataset, text_loader
from mixed_ft.mix import HiddenMixup
from mixed_ft.tasks import AuxTask
from mixed_ft.augment_text import TextAugment, TokenMask
from mixed_ft.distill import KD, TeacherCache


def test_compile_under_torchrun_keeps_ranks_equal(tmp_path):
    from test_distributed import torchrun, HERE
    from conftest import ROOT
    import os
    env = {**os.environ, 'PYTHONPATH': str(ROOT)}
    assert 'compile ok' in torchrun(2, HERE/'dist_compile.py', env=env).stdout


TEXTS = ['a good film', 'a really bad film indeed', 'good', 'bad acting and a dull plot', 'fine'] * 4


class Tagger(nn.Module):
    "One label per token: (B, T, 3) logits"
    def __init__(self, n):
        super().__init__(); self.emb = nn.Embedding(n, 8); self.enc = nn.Linear(8, 8); self.fc = nn.Linear(8, 3)
    def forward(self, input_ids, attention_mask):
        return {'logits': self.fc(torch.relu(self.enc(self.emb(input_ids)))), 'tokens': self.emb(input_ids)}


def tag_loader(vocab, bs=4, shuffle=False):
    ds = TextDataset(TEXTS, None, vocab)
    def collate(items):
        from mixed_ft.text import pad_collate
        b = pad_collate(items)
        y = b['input_ids'] % 3                      # a tag per token
        b['y'] = y.masked_fill(b['attention_mask'] == 0, -100)
        return b
    from mixed_ft.text import BucketSampler
    return DataLoader(ds, batch_sampler=BucketSampler([len(i) for i in ds.ids], bs, shuffle=shuffle), collate_fn=collate)


def test_token_level_model_evaluates_over_batches_of_different_lengths():
    vocab = Vocab.build(TEXTS); torch.manual_seed(0)
    m, dl = Tagger(len(vocab)), tag_loader(vocab)
    assert len({b['input_ids'].shape[1] for b in dl}) > 1   # the batches really differ in length
    tr = Trainer(m, None, dl, dl, epochs=1, progress=False)
    res = tr.evaluate()
    right = total = 0
    with torch.no_grad():
        for b in dl:
            p, keep = m(b['input_ids'], b['attention_mask'])['logits'].argmax(-1), b['y'] != -100
            right += (p[keep] == b['y'][keep]).sum().item(); total += keep.sum().item()
    assert res['accuracy'] == pytest.approx(right / total)
    logits, y = tr.predict(dl)   # padded along time, targets padded with -100
    assert logits.shape[:2] == y.shape and (y != -100).sum().item() == total


def test_text_augment_with_a_teacher_cache_is_refused(tmp_path):
    vocab = Vocab.build(TEXTS); labels = [i % 2 for i in range(len(TEXTS))]
    ds = TextDataset(TEXTS, labels, vocab)
    cache = TeacherCache(tmp_path, 't', 'd', len(TEXTS), 3, teacher=lambda b: torch.zeros(len(b['idx']), 3))
    tr = Trainer(_Pooled(Tagger(len(vocab))), [LabelLoss(), TextAugment(TokenMask(0.5), vocab.spec()), KD(cache)],
                 text_loader(ds, 4), epochs=1, progress=False)
    with pytest.raises(ValueError, match="the cache holds the teacher's outputs for the original examples.*transfer_set"):
        tr.fit()


class _Pooled(nn.Module):
    "A sentence classifier from the tagger (mean over tokens)"
    def __init__(self, m): super().__init__(); self.m = m
    def forward(self, input_ids, attention_mask): return {'logits': self.m(input_ids, attention_mask)['logits'].mean(1)}


def hooks(m: nn.Module) -> int:
    return sum(len(mod._forward_hooks) for mod in m.modules())


@pytest.mark.parametrize('fail', [False, True])
def test_strategies_leave_no_hooks_on_the_model(fail):
    vocab = Vocab.build(TEXTS); torch.manual_seed(0)
    labels = [i % 2 for i in range(len(TEXTS))]
    m = _Pooled(Tagger(len(vocab)))
    class Boom(Strategy):
        name, terms = 'boom', ()
        def loss_terms(self, out, batch, ctx):
            if fail and ctx.step == 2: raise RuntimeError('boom')
            return {}
    aux = AuxTask('aux', nn.Linear(8, 2), module='m.enc', targets=lambda b: b['y'])
    aux.features = lambda out, batch, ctx: aux._feat.mean(1)
    strategies = [LabelLoss(), HiddenMixup('m.emb', alpha=0.4), aux, Boom()]
    class CountHooks(Callback):
        seen = 0
        def after_pred(self, tr): CountHooks.seen = max(CountHooks.seen, hooks(m))
    tr = Trainer(m, strategies, text_loader(TextDataset(TEXTS, labels, vocab), 4), epochs=1, progress=False, callbacks=[CountHooks()])
    if fail:
        with pytest.raises(RuntimeError, match='boom'): tr.fit()
    else: tr.fit()
    assert CountHooks.seen == 2   # HiddenMixup's and AuxTask's hooks were on the model during training
    assert hooks(m) == 0


def test_streaming_metrics_under_torchrun_match_one_process():
    from test_distributed import torchrun, HERE
    from conftest import ROOT
    import os
    assert 'metrics ok' in torchrun(2, HERE/'dist_metrics.py', env={**os.environ, 'PYTHONPATH': str(ROOT)}).stdout
