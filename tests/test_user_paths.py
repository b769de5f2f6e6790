"""What a new user runs, as written: the README's main command and its code blocks, `mixed-ft train` and `ablate` with
default options (progress bars on), piped and in a terminal; runs never silently replaced; interrupt and resume."""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path

import pytest
import torch

from conftest import ROOT, mixed_ft_cmd, run_cli, run_main, sigint_default
from mixed_ft.app import load_config

MODES = ['piped', 'terminal']


def readme_blocks(langs=('', 'python', 'py')) -> list[str]:
    "The README's fenced code blocks in one of `langs` (default: Python, with no info string or python/py)"
    blocks, cur, lang = [], None, None
    for line in (ROOT/'README.md').read_text().splitlines():
        if line.startswith('```'):
            if cur is None: cur, lang = [], line[3:].strip()
            else:
                if lang in langs: blocks.append('\n'.join(cur))
                cur = None
        elif cur is not None: cur.append(line)
    return blocks

readme_python_blocks = readme_blocks


def test_readme_main_command_is_mixed_ft_demo():
    "The first command of the README is `bash dev.sh demo`, which runs `mixed-ft demo` with what it is given"
    readme = (ROOT/'README.md').read_text()
    assert 'bash dev.sh demo' in readme
    assert '"$VENV/bin/mixed-ft" demo "$@"' in (ROOT/'dev.sh').read_text()


@pytest.mark.parametrize('mode', MODES)
def test_demo_with_default_options(mode, tmp_path, cli_env):
    "The README's main command at a shorter size, progress bars on"
    rc, out, err = run_cli(['demo', '--epochs', '2', '--seeds', '0'], cli_env, cwd=tmp_path, pty_mode=mode == 'terminal')
    assert rc == 0, out + err
    assert '| DA+TA+KD |' in out and 'Traceback' not in out + err
    assert 'epoch 2/2' in out + err   # the progress bar was drawn
    res = json.loads((tmp_path/'demo_out'/'ablation.json').read_text())
    assert res['info']['epochs'] == 2 and res['info']['seeds'] == [0]


@pytest.mark.parametrize('mode', MODES)
def test_train_with_default_options(mode, tmp_path, cli_env):
    (tmp_path/'run.toml').write_text('[data]\nn_train = 96\n[trainer]\nepochs = 2\n[output]\ndir = "run"\n')
    rc, out, err = run_cli(['train', 'run.toml'], cli_env, cwd=tmp_path, pty_mode=mode == 'terminal')
    assert rc == 0, out + err
    assert 'epoch 2/2' in out + err and 'Traceback' not in out + err
    assert '"test_accuracy"' in out
    assert (tmp_path/'run'/'model'/'model.pt').exists()


@pytest.mark.parametrize('mode', MODES)
def test_ablate_with_default_options(mode, tmp_path, cli_env):
    rc, out, err = run_cli(['ablate', '--epochs', '2', '--seeds', '0', '--yes'], cli_env, cwd=tmp_path, pty_mode=mode == 'terminal')
    assert rc == 0, out + err
    assert 'ablation' in out + err and 'Traceback' not in out + err   # the grid's progress bar
    assert 'ablation: DA+TA+KD, seed 0 (run 6 of 6)' in out + err   # which run of the grid it is on
    assert re.search(r'teacher test accuracy: \d+\.\d%; majority class: \d+\.\d%', out)
    res = json.loads((tmp_path/'ablation_out'/'ablation.json').read_text())
    assert [r['set'] for r in res['runs']] == ['plain', 'DA', 'TA', 'KD', 'DA+KD', 'DA+TA+KD']


def test_readme_python_blocks_run_top_to_bottom(tmp_path):
    "Every Python block of the README, in order, in one fresh interpreter (progress bars on, as written)"
    blocks = readme_python_blocks()
    assert len(blocks) >= 2 and any('Trainer(' in b for b in blocks)
    script = tmp_path/'readme.py'
    script.write_text('\n\n'.join(blocks))
    env = {**os.environ, 'MPLBACKEND': 'Agg', 'PYTHONPATH': str(ROOT)}
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path/'runs'/'digits'/'last.pt').exists()
    assert "'accuracy'" in r.stdout
    before = (tmp_path/'runs'/'digits'/'last.pt').read_bytes()   # run again: the finished run is not replaced
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode != 0 and "runs/digits already holds the checkpoints of a run (last.pt, best.pt): resume it" in r.stderr, r.stderr[-2000:]
    assert (tmp_path/'runs'/'digits'/'last.pt').read_bytes() == before


def test_second_train_into_the_same_folder_refuses(tmp_path):
    cfg = tmp_path/'run.toml'
    cfg.write_text('[data]\nn_train = 64\n[trainer]\nepochs = 1\n[output]\ndir = "run"\n')
    assert run_main('train', cfg, '--no-progress')[0] == 0
    before = (tmp_path/'run'/'model'/'model.pt').read_bytes()
    rc, out, err = run_main('train', cfg, '--no-progress')
    assert rc == 1 and len(err.strip().splitlines()) == 1, err
    assert 'already holds a finished run' in err and '--resume' in err and '--overwrite' in err
    assert (tmp_path/'run'/'model'/'model.pt').read_bytes() == before   # untouched
    # --resume with a config that changes the run: refused, naming every differing key
    cfg.write_text('[data]\nn_train = 64\n[trainer]\nepochs = 1\nlr = 0.02\n[strategies]\nset = "DA"\n[output]\ndir = "run"\n')
    rc, _, err = run_main('train', cfg, '--resume', '--no-progress')
    assert rc == 1 and 'does not match the run' in err
    assert 'trainer.lr (run: 0.01, config: 0.02)' in err and "strategies.set (run: 'plain', config: 'DA')" in err
    # --overwrite replaces it
    rc, out, err = run_main('train', cfg, '--overwrite', '--no-progress')
    assert rc == 0, err
    assert json.loads((tmp_path/'run'/'config.json').read_text())['trainer']['lr'] == 0.02


def test_interrupted_run_prints_how_to_resume_and_the_resumed_run_says_where(tmp_path, cli_env):
    cfg = tmp_path/'run.toml'
    cfg.write_text('[data]\nn_train = 128\nbatch_size = 16\n[trainer]\nepochs = 6\n[output]\ndir = "run"\nevery_steps = 1\n')
    p = subprocess.Popen(mixed_ft_cmd() + ['train', str(cfg)], cwd=tmp_path, env=cli_env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, preexec_fn=sigint_default)
    last, deadline = tmp_path/'run'/'last.pt', time.time() + 300
    def step():
        try: return torch.load(last, weights_only=True)['step']
        except Exception: return -1
    while step() < 3:
        assert p.poll() is None and time.time() < deadline, p.stderr.read()[-2000:]
        time.sleep(0.02)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-2000:]
    assert f'Resume with: mixed-ft train {cfg} --resume' in err and 'the last checkpoint is' in err
    rc, out, err = run_main('train', cfg, '--resume', '--no-progress')
    assert rc == 0, err
    assert re.search(r'resuming .*last\.pt: epoch \d of 6, step \d+ of 48', err), err


def test_readme_text_classification_config_and_commands(tmp_path, cli_env):
    "The README's own-text config and its two commands, as written, on a small labelled TSV (progress bars on)"
    import random
    toml = next(b for b in readme_blocks(('toml',)) if 'app = "text-classification"' in b)
    sh = next(b for b in readme_blocks(('sh',)) if 'mixed-ft train run.toml' in b)
    cmds = [line.split('#')[0].split() for line in sh.splitlines() if line.strip()]
    assert cmds == [['mixed-ft', 'train', 'run.toml'], ['mixed-ft', 'ablate', 'run.toml'], ['mixed-ft', 'tune', 'run.toml']]
    rng = random.Random(0)
    def sentence(y):
        w = rng.sample('the film plot actors music story was really quite a bit'.split(), 5)
        w.insert(rng.randrange(6), rng.choice(['great', 'wonderful'] if y else ['awful', 'boring'])); return ' '.join(w)
    (tmp_path/'data').mkdir()
    for name, n in (('train.tsv', 256), ('dev.tsv', 64)):
        (tmp_path/'data'/name).write_text('sentence\tlabel\n' + ''.join(f"{sentence(i % 2)}\t{'pos' if i % 2 else 'neg'}\n" for i in range(n)))
    (tmp_path/'run.toml').write_text(toml)
    rc, out, err = run_cli(cmds[0][1:], cli_env, cwd=tmp_path)
    assert rc == 0 and 'Traceback' not in err, err[-3000:]
    res = json.loads(out)
    assert res['valid_accuracy'] >= 0.9, res   # the sentiment word decides the label: a mixed student learns it
    assert (tmp_path/'runs'/'my-text'/'model'/'model.pt').exists() and 'teacher cache' in err   # progress bars drawn
    # the README's commands that use the trained model, as written: predictions score what train reported; int8 agrees
    use = next(b for b in readme_blocks(('sh',)) if 'mixed-ft predict' in b)
    ucmds = [line.split('#')[0].split() for line in use.splitlines() if line.strip()]
    assert [c[:2] for c in ucmds] == [['mixed-ft', 'predict'], ['mixed-ft', 'export'], ['mixed-ft', 'predict']]
    for c in ucmds:
        rc, o, e = run_cli(c[1:], cli_env, cwd=tmp_path)
        assert rc == 0 and 'Traceback' not in e, e[-3000:]
    gold = ['pos' if i % 2 else 'neg' for i in range(64)]
    preds = [json.loads(l)['label'] for l in (tmp_path/'preds.jsonl').read_text().splitlines()]
    assert sum(a == b for a, b in zip(preds, gold)) / 64 == res['valid_accuracy']
    assert [json.loads(l)['label'] for l in (tmp_path/'preds_int8.jsonl').read_text().splitlines()] == preds
    import mixed_ft   # and in Python, as the README says
    r = mixed_ft.load(tmp_path/'runs'/'my-text')('a gripping, funny film')
    assert r['label'] in ('neg', 'pos') and abs(sum(r['probs'].values()) - 1) < 1e-5
    rc, out, err = run_cli(cmds[1][1:] + ['--seeds', '0'], cli_env, cwd=tmp_path)   # one seed: the README's grid at a smaller size
    assert rc == 0 and 'Traceback' not in err, err[-3000:]
    assert '| DA+TA+KD |' in out and re.search(r'teacher valid accuracy: \d+\.\d%', out), out
    rc, out, err = run_cli(cmds[2][1:] + ['--trials', '3'], cli_env, cwd=tmp_path)   # three trials: the README's search, smaller
    assert rc == 0 and 'Traceback' not in err, err[-3000:]
    assert [l.split()[1] for l in out.splitlines() if l.startswith('trial ')] == ['0', '1', '2'], out
    assert 'tune text-classification' in err                                       # the overall bar, drawn
    best = load_config(tmp_path/'tune_out'/'best.toml')                            # a config mixed-ft reads as is
    assert best.strategies.set == json.loads((tmp_path/'tune_out'/'tune.json').read_text())['best']['set']
