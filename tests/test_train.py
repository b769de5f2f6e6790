"Integration tests of the trainer: NaN handling, atomic checkpoints, exact mid-epoch resume"
import os
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from mixed_ft.core import *
from mixed_ft.io import *
from mixed_ft.train import *
from toys import toy_data, toy_model



class NaNAt(Strategy):
    "Contributes a term 'aux' that is finite, except NaN from optimizer step `step` on"
    name = 'nan_at'
    def __init__(self, step): self.step = step
    def loss_terms(self, out, batch, ctx):
        v = out.logits.float().pow(2).mean() * 1e-3
        return {'aux': v * float('nan') if ctx.step >= self.step else v}


class Snapshot(Callback):
    "Copies the bytes of last.pt after every epoch, to compare with what is left after a failure"
    order = 50
    def __init__(self, path): self.path, self.copies = Path(path), []
    def after_epoch(self, tr): self.copies.append((self.path/'last.pt').read_bytes())


def toy_trainer(strategies=None, epochs=2, cbs=(), seed=0):
    torch.manual_seed(123)
    return Trainer(toy_model(), strategies, DataLoader(toy_data(128), batch_size=32, shuffle=True),
                   DataLoader(toy_data(64, seed=1), batch_size=64), epochs=epochs, lr=1e-2, seed=seed,
                   callbacks=cbs, progress=False)


def test_nan_loss_stops_names_step_and_term_and_keeps_checkpoint(tmp_path):
    snap = Snapshot(tmp_path)
    tr = toy_trainer([LabelLoss(), NaNAt(step=6)], epochs=3, cbs=[Checkpoint(tmp_path), snap])  # 4 steps per epoch
    with pytest.raises(NonFiniteLossError, match=r"loss term 'aux' is nan at step 6") as e:
        tr.fit()
    assert e.value.step == 6 and e.value.term == 'aux'
    assert len(snap.copies) == 1  # epoch 1 finished, epoch 2 failed at its third step
    assert (tmp_path/'last.pt').read_bytes() == snap.copies[0]  # the last good checkpoint is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best.pt', 'last.pt']  # no temporary files left
    ck = load_checkpoint_file(tmp_path/'last.pt')
    assert ck['step'] == 4 and all(torch.isfinite(v).all() for v in ck['model'].values())


def test_failed_write_leaves_previous_checkpoint(tmp_path, monkeypatch):
    tr = toy_trainer(epochs=1, cbs=[Checkpoint(tmp_path)])
    tr.fit()
    good = (tmp_path/'last.pt').read_bytes()
    real_save = torch.save
    def broken_save(obj, f, *a, **k):
        f.write(b'half a checkpoint')
        raise OSError("disk full")
    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_save(tr.state_dict(), tmp_path/'last.pt')
    monkeypatch.setattr(torch, 'save', real_save)
    assert (tmp_path/'last.pt').read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ['best.pt', 'last.pt']


def test_corrupt_checkpoint_gets_clear_error(tmp_path):
    tr = toy_trainer(epochs=1, cbs=[Checkpoint(tmp_path)])
    tr.fit()
    data = (tmp_path/'last.pt').read_bytes()
    (tmp_path/'cut.pt').write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        toy_trainer().fit(resume_from=tmp_path/'cut.pt')
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        toy_trainer().fit(resume_from=tmp_path/'nope.pt')


class StopAtStep(Callback):
    "Ends the run after optimizer step `n` (after the checkpoint of that step), as a crash would"
    order = 100
    def __init__(self, n): self.n = n
    def after_step(self, tr):
        if tr.step == self.n: raise CancelFitException()


def weights(m): return torch.cat([p.detach().flatten() for p in m.parameters()])


@pytest.mark.parametrize('stop_at', [3, 6])  # inside epoch 1, and inside epoch 2
def test_mid_epoch_resume_is_bit_identical(tmp_path, stop_at):
    "Shuffling and per-batch augmentation randomness continue exactly where the checkpoint left off"
    straight = toy_trainer([LabelLoss(), RandomNoise()], epochs=2)
    straight.fit()
    first = toy_trainer([LabelLoss(), RandomNoise()], epochs=2, cbs=[Checkpoint(tmp_path, every_steps=1), StopAtStep(stop_at)])
    first.fit()
    assert load_checkpoint_file(tmp_path/'last.pt')['step'] == stop_at
    resumed = toy_trainer([LabelLoss(), RandomNoise()], epochs=2, seed=999)  # the seed is ignored on resume
    resumed.fit(resume_from=tmp_path/'last.pt')
    assert torch.equal(weights(straight.model), weights(resumed.model))
    assert resumed.history == straight.history


class RandomNoise(Strategy):
    "Adds Gaussian noise drawn from the global generator: resume must replay it exactly"
    name = 'noise'
    def before_batch(self, batch, ctx): return {**batch, 'x': batch['x'] + torch.randn_like(batch['x'])}


def test_resume_would_differ_without_rng_restore(tmp_path):
    "The property the resume test checks is not automatic: a fresh run from the same weights diverges"
    first = toy_trainer([LabelLoss(), RandomNoise()], epochs=2, cbs=[Checkpoint(tmp_path, every_steps=1), StopAtStep(3)])
    first.fit()
    straight = toy_trainer([LabelLoss(), RandomNoise()], epochs=2); straight.fit()
    ck = load_checkpoint_file(tmp_path/'last.pt')
    naive = toy_trainer([LabelLoss(), RandomNoise()], epochs=2, seed=1)
    naive.model.load_state_dict(ck['model'])
    naive.fit()
    assert not torch.equal(weights(straight.model), weights(naive.model))


def test_export_leaves_out_strategy_modules(tmp_path):
    from mixed_ft.demo import DigitsCNN
    from mixed_ft.tasks import RotationTask
    m = DigitsCNN(4)
    rot = RotationTask(m.feat_dim)
    x = torch.rand(16, 1, 8, 8); y = torch.randint(0, 10, (16,))
    tr = Trainer(m, [LabelLoss(), rot], DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8), epochs=1, progress=False)
    before = rot.head.weight.detach().clone()
    tr.fit()
    assert not torch.equal(before, rot.head.weight)  # the optimizer trained the head
    export_model(m, tmp_path/'m.pt')
    sd = torch.load(tmp_path/'m.pt', weights_only=True)
    assert set(sd) == set(DigitsCNN(4).state_dict())
    assert 'rot' in tr.state_dict()['objective']  # the training checkpoint keeps it
