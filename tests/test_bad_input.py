"The bad-input catalogue: every case gets one clear message that names the problem and the fix, and nothing the user wrote is lost"
import json
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from mixed_ft.core import *
from mixed_ft.io import *
from mixed_ft.train import Trainer, Checkpoint, load_checkpoint_file
from toys import toy_data, toy_model
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


# --- the command line: one line, not a traceback, for each case (issue: the main job as a user runs it) ---------------
import errno
from conftest import run_main


def one_line_error(rc, err, *parts):
    "Exit status 1 and one line of error (besides the one note a run that trains prints: its thread choice)"
    assert rc == 1, err
    lines = [l for l in err.strip().splitlines() if 'intra-op thread' not in l]
    assert 'Traceback' not in err and len(lines) == 1, err
    for p in parts: assert p in err, err


def write_cfg(tmp_path, body, name='run.toml'):
    p = tmp_path/name; p.write_text(body); return p


def test_unknown_device(tmp_path):
    cfg = write_cfg(tmp_path, '[trainer]\ndevice = "gpu"\n')
    one_line_error(*run_main('train', cfg, '--no-progress')[::2], "unknown device 'gpu': use 'cpu', 'cuda' or 'cuda:N'")


@pytest.fixture
def no_training(monkeypatch):
    "Fails the test if data is read: the output folder must be checked before anything else happens"
    import mixed_ft.demo
    def boom(*a, **k): raise AssertionError("data was read before the output folder was checked")
    monkeypatch.setattr(mixed_ft.demo, 'digits_splits', boom)


def test_output_folder_is_a_file(tmp_path, no_training):
    (tmp_path/'out').write_text('my notes')
    cfg = write_cfg(tmp_path, '[output]\ndir = "out"\n')
    one_line_error(*run_main('train', cfg, '--no-progress')[::2], "the output folder", "out is a file")
    assert (tmp_path/'out').read_text() == 'my notes'


def test_output_folder_not_writable(tmp_path, no_training):
    cfg = write_cfg(tmp_path, '[output]\ndir = "/proc/mixed_ft_run"\n')   # not writable, even for root
    one_line_error(*run_main('train', cfg, '--no-progress')[::2], "cannot write to the output folder /proc/mixed_ft_run")


def test_disk_full_while_writing_a_checkpoint(tmp_path, monkeypatch):
    "ENOSPC on the third checkpoint: one line naming the file; the previous checkpoint is still loadable"
    cfg = write_cfg(tmp_path, '[data]\nn_train = 64\n[trainer]\nepochs = 4\n[output]\ndir = "run"\n')
    real, calls = torch.save, []
    def save(obj, f, *a, **k):
        calls.append(1)
        if len(calls) >= 5: f.write(b'partial'); raise OSError(errno.ENOSPC, 'No space left on device')
        return real(obj, f, *a, **k)
    monkeypatch.setattr(torch, 'save', save)
    rc, _, err = run_main('train', cfg, '--no-progress')
    one_line_error(rc, err, f"could not write {tmp_path/'run'}", 'No space left on device', 'is unchanged')
    monkeypatch.setattr(torch, 'save', real)
    ck = load_checkpoint_file(tmp_path/'run'/'last.pt')
    assert ck['step'] > 0 and not any(p.name.endswith('.tmp') for p in (tmp_path/'run').iterdir())


def text_grid_cfg(tmp_path, train_text, data_extra='', sections=''):
    (tmp_path/'train.tsv').write_text(train_text)
    (tmp_path/'dev.tsv').write_text('label\tsentence\n1\tgood\n0\tbad\n')
    return write_cfg(tmp_path, f'app = "text-classification"\n[data]\ntrain = "train.tsv"\nvalid = "dev.tsv"\n{data_extra}'
                               f'[ablate]\nsets = ["plain"]\nseeds = [0]\n{sections}', 'grid.toml')


def test_empty_data_file(tmp_path):
    cfg = text_grid_cfg(tmp_path, '')
    one_line_error(*run_main('ablate', cfg, '--no-progress')[::2], 'train.tsv is empty')


def test_header_only_training_file(tmp_path):
    cfg = text_grid_cfg(tmp_path, 'label\tsentence\n')
    one_line_error(*run_main('ablate', cfg, '--no-progress')[::2], 'train.tsv has no examples (a header line and nothing else)')


def test_rows_with_extra_columns(tmp_path):
    cfg = text_grid_cfg(tmp_path, 'label\tsentence\n1\tgood\n0\tbad\tfilm\n')
    one_line_error(*run_main('ablate', cfg, '--no-progress')[::2], 'train.tsv, line 3: 3 columns where the header has 2')


def test_teacher_path_that_does_not_exist(tmp_path):
    cfg = text_grid_cfg(tmp_path, 'label\tsentence\n1\tgood\n0\tbad\n', sections='[teacher]\npath = "models/my-bert"\n')
    one_line_error(*run_main('ablate', cfg, '--no-progress')[::2], f"No Hugging Face model at {tmp_path/'models'/'my-bert'}")


def test_training_checkpoint_where_weights_are_expected(tmp_path):
    cfg = write_cfg(tmp_path, '[data]\nn_train = 32\n[trainer]\nepochs = 1\n[output]\ndir = "t"\n')
    assert run_main('train', cfg, '--no-progress')[0] == 0
    kd = write_cfg(tmp_path, '[strategies]\nset = "KD"\n[teacher]\npath = "t/last.pt"\nwidth = 8\n[output]\ndir = "kd"\n', 'kd.toml')
    one_line_error(*run_main('train', kd, '--no-progress')[::2], 't/last.pt is a training checkpoint, not exported model weights: use the run')


def test_fp16_on_cpu_names_the_config_key(tmp_path):
    cfg = write_cfg(tmp_path, '[data]\nn_train = 32\n[trainer]\nepochs = 1\nprecision = "fp16"\ndevice = "cpu"\n[output]\ndir = "run"\n')
    one_line_error(*run_main('train', cfg, '--no-progress')[::2], 'precision = "bf16" in the [trainer] section')


@pytest.mark.parametrize('body,msg', [('[trainer]\nepochs = 0\n', '[trainer] epochs = 0: it must be at least 1'),
                                      ('[data]\nn_train = -5\n', '[data] n_train = -5: it must be 0 (all) or a positive number'),
                                      ('[data]\nn_train = 5000\n', "n_train = 5000, but the digits' training split has 1078 images")])
def test_train_epochs_and_n_train_out_of_range(tmp_path, body, msg):
    one_line_error(*run_main('train', write_cfg(tmp_path, body + '[output]\ndir = "run"\n'), '--no-progress')[::2], msg)


@pytest.mark.parametrize('args,msg', [(['--epochs', '0'], 'command line: [trainer] epochs = 0: it must be at least 1'),
                                      (['--n-train', '-3'], 'command line: [data] n_train = -3: it must be 0 (all) or a positive number'),
                                      (['--n-train', '5000'], "n_train = 5000, but the digits' training split has 1078 images")])
def test_ablate_epochs_and_n_train_out_of_range(tmp_path, args, msg):
    one_line_error(*run_main('ablate', *args, '--out', tmp_path/'a', '--no-progress')[::2], msg)


def test_text_ablate_n_train_larger_than_the_file(tmp_path):
    cfg = text_grid_cfg(tmp_path, 'label\tsentence\n1\tgood\n0\tbad\n', 'n_train = 10\n')
    one_line_error(*run_main('ablate', cfg, '--no-progress')[::2], '[data] n_train = 10, but', 'train.tsv has only 2 rows')


def test_command_line_overrides_config_and_config_paths_are_relative_to_it(tmp_path, monkeypatch):
    (tmp_path/'cfgs').mkdir()
    cfg = write_cfg(tmp_path/'cfgs', '[ablate]\nsets = ["plain", "DA", "TA"]\nseeds = [0, 1]\nout = "from_config"\n[trainer]\nepochs = 50\n', 'grid.toml')
    monkeypatch.chdir(tmp_path)
    rc, out, err = run_main('ablate', cfg, '--sets', 'plain,KD', '--seeds', '0', '--epochs', '1', '--no-progress')
    assert rc == 0, err
    res = json.loads((tmp_path/'cfgs'/'from_config'/'ablation.json').read_text())   # out: relative to the config's folder
    assert res['info']['epochs'] == 1 and [r['set'] for r in res['runs']] == ['plain', 'KD']
    rc, _, err = run_main('ablate', cfg, '--sets', 'plain', '--seeds', '0', '--epochs', '1', '--out', 'from_cli', '--no-progress')
    assert rc == 0 and (tmp_path/'from_cli'/'ablation.json').exists()   # --out wins, relative to where the command runs


def test_package_says_what_it_is():
    "help(mixed_ft) starts with a description, not just the version"
    import mixed_ft
    assert mixed_ft.__doc__ and 'mixed fine-tuning' in mixed_ft.__doc__.lower() and 'mixed-ft demo' in mixed_ft.__doc__


def test_a_top_level_key_is_not_called_a_section(tmp_path):
    "`epochs = 3` above the [trainer] header: the error says it is a top-level key, and where it belongs"
    from mixed_ft.app import load_config, ConfigError
    cfg = tmp_path/'run.toml'
    cfg.write_text('epochs = 3\n[trainer]\nlr = 0.1\n')
    with pytest.raises(ConfigError, match=r"unknown top-level key 'epochs' = 3: .* It is a key of \[teacher\] and \[trainer\]"):
        load_config(cfg)


@pytest.fixture(scope='module')
def digits_run(tmp_path_factory):
    "A finished one-epoch digits run, exported to run/model"
    d = tmp_path_factory.mktemp('use')
    (d/'run.toml').write_text('[data]\nn_train = 64\n[trainer]\nepochs = 1\n[output]\ndir = "run"\n')
    from conftest import run_main
    assert run_main('train', d/'run.toml', '--no-progress')[0] == 0
    return d


@pytest.mark.parametrize('lines, args, msg', [
    ('1 2 3\n', [], "in.txt, line 1: 3 values; a digit is 64 pixel values (8x8, row by row, 0 to 16) separated by commas or spaces"),
    (' '.join(['0'] * 64) + '\n\n', [], "in.txt, line 2: 0 values"),
    (' '.join(['17'] * 64) + '\n', [], "in.txt, line 1: pixel values run from 0 to 16, got 17 to 17"),
    (' '.join(['0'] * 64) + '\n', ['--beam', '4'], "--beam does not apply to a digits model"),
    (' '.join(['0'] * 64) + '\n', ['--format', 'conll'], "--format conll: a digits model writes jsonl"),
])
def test_predict_input_the_model_cannot_read(digits_run, lines, args, msg):
    from conftest import run_main
    (digits_run/'in.txt').write_text(lines)
    rc, _, err = run_main('predict', digits_run/'run', digits_run/'in.txt', '--out', digits_run/'out.jsonl', '--no-progress', *args)
    one_line_error(rc, err, msg)
    assert not (digits_run/'out.jsonl').exists() and not (digits_run/'out.jsonl.tmp').exists()   # no half-written output


def test_predict_a_folder_without_an_export(tmp_path, digits_run):
    from conftest import run_main
    rc, _, err = run_main('predict', tmp_path, tmp_path/'x.txt')
    one_line_error(rc, err, "holds no exported model (no mixed_ft.json in it or in", "Train a run with mixed-ft train first")
    rc, _, err = run_main('predict', digits_run/'run'/'model'/'model.onnx', tmp_path/'x.txt')
    one_line_error(rc, err, "model.onnx: write one with mixed-ft export RUN --format onnx")
    rc, _, err = run_main('export', digits_run/'run', '--format', 'tflite')
    one_line_error(rc, err, "--format tflite: the one export format is onnx")
