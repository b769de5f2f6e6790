"The bad-input catalogue: every case gets one clear message that names the problem and the fix, and nothing the user wrote is lost"
import json
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from mixed_ft.core import *
from mixed_ft.train import Trainer, Checkpoint, toy_data, toy_model, load_checkpoint_file
from mixed_ft.text import read_examples
from mixed_ft.augment import GaussianNoise, HFlip, Compose
from mixed_ft.augment_text import TokenMask
from mixed_ft.distill import KD, Teacher, FeatureKD, TeacherCache, CacheMismatchError
from mixed_ft.cli import load_config


@pytest.fixture
def tsv(tmp_path):
    def write(text, name='d.tsv'):
        p = tmp_path/name; p.write_text(text); return p
    return write


def test_empty_text(tsv):
    p = tsv("label\tsentence\n1\tfine\n0\t   \n")
    with pytest.raises(ValueError, match=r"d.tsv, line 3: the text is empty. Remove the line or fill it in"):
        read_examples(p)


def test_missing_column(tsv):
    p = tsv("label\ttext\n1\tfine\n")
    with pytest.raises(ValueError, match=r"no text column 'sentence'; the columns are \['label', 'text'\]. Pass text="):
        read_examples(p)


def test_label_not_in_label_map(tsv):
    p = tsv("label\tsentence\n1\tfine\n2\todd\n")
    with pytest.raises(ValueError, match=r"line 3: label '2' is not in the label map \['0', '1'\]. Fix the label or pass a label_map"):
        read_examples(p, label_map={'0': 0, '1': 1})


def test_label_out_of_range():
    with pytest.raises(ValueError, match=r"label 3 is out of range for a model with 3 classes .*build the model with as many outputs"):
        classification_loss(torch.zeros(2, 3), torch.tensor([0, 3]))


def test_teacher_student_classes_differ():
    kd = KD(Teacher(nn.Linear(4, 5)))
    out = Outputs(logits=torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"the teacher has 5 classes and the student 3: distillation needs the same label set"):
        kd.loss_terms(out, {'x': torch.zeros(2, 4)}, Context(None))


def test_feature_distillation_widths_without_projection():
    with pytest.raises(ValueError, match=r"between widths 64 \(student\) and 384 \(teacher\) needs a learned projection: pass projection=True"):
        FeatureKD(Teacher(nn.Linear(2, 2)), {0: 0}, 64, 384, projection=False)


class NaNAfter(Strategy):
    name, terms = 'nan', ('aux',)
    def loss_terms(self, out, batch, ctx):
        v = out.logits.float().mean() * 0
        return {'aux': v + (float('inf') if ctx.step >= 5 else 0.)}


def test_nan_or_inf_loss_stops_and_keeps_checkpoint(tmp_path):
    torch.manual_seed(0)
    tr = Trainer(toy_model(), [LabelLoss(), NaNAfter()], DataLoader(toy_data(128), batch_size=32), epochs=3,
                 callbacks=[Checkpoint(tmp_path, monitor=None)], progress=False)
    with pytest.raises(NonFiniteLossError, match=r"loss term 'aux' is inf at step 5. Training stopped; the last good checkpoint is left in place"):
        tr.fit()
    assert load_checkpoint_file(tmp_path/'last.pt')['step'] == 4


@pytest.mark.parametrize('x,msg', [(torch.zeros(3, 8, 8), r"add the batch dimension with x\[None\]"),
                                   (torch.zeros(2, 3, 8, 8, dtype=torch.uint8), r"must be floating point, got torch.uint8: convert with x.float\(\) / 255")])
def test_images_of_wrong_shape_or_dtype(x, msg):
    with pytest.raises(ValueError, match=msg):
        Compose([HFlip(), GaussianNoise()])(x)


@pytest.mark.parametrize('make', [lambda: GaussianNoise(p=1.5), lambda: HFlip(p=-0.1), lambda: TokenMask(p=2)])
def test_augmentation_probability_outside_unit_interval(make):
    with pytest.raises(ValueError, match=r"augmentation probability p must lie in \[0, 1\]"):
        make()


def test_teacher_cache_fingerprint_mismatch(tmp_path):
    TeacherCache(tmp_path, 'teacher-a', 'data-1', 10, 3)
    with pytest.raises(CacheMismatchError, match=r"was made for a different setup \(teacher: cache has 'teacher-a', this run has 'teacher-b'\).*delete the folder"):
        TeacherCache(tmp_path, 'teacher-b', 'data-1', 10, 3)


def test_missing_or_unreadable_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"No data file at .*set MIXED_FT_DATA"):
        read_examples(tmp_path/'nope.tsv')
    bad = tmp_path/'latin1.tsv'; bad.write_bytes(b"label\tsentence\n1\tcaf\xe9\n")
    with pytest.raises(ValueError, match=r"latin1.tsv is not UTF-8 text"):
        read_examples(bad)
    (tmp_path/'w.pt').write_bytes(b'garbage')
    with pytest.raises(ValueError, match=r"not a readable weights file .* Export it again"):
        load_model_weights(nn.Linear(2, 2), tmp_path/'w.pt')


def test_config_with_unknown_key(tmp_path):
    p = tmp_path/'run.toml'
    text = '[trainer]\nepochs = 3\nlearnin_rate = 0.1\n'
    p.write_text(text)
    with pytest.raises(ValueError, match=r"unknown key 'learnin_rate' in \[trainer\]. .*Valid keys: epochs, lr"):
        load_config(p)
    assert p.read_text() == text   # the user's file is untouched
