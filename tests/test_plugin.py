"""A third-party application, installed as a package through an entry point: `tests/plugin_app` (regression of a noisy
wave, DA input jitter, KD on the outputs) is listed, trained and ablated by the `mixed-ft` command without any edit to
mixed_ft/ (chapter 05i_adding_an_app explains it)"""
import json, os, shutil, subprocess, sys
from pathlib import Path

import pytest, torch
from conftest import ROOT, run_cli


@pytest.fixture(scope='module')
def plugin(tmp_path_factory):
    "The plug-in installed with pip into its own folder (a copy of its source, so the checkout stays clean); the env that sees it"
    src, site = tmp_path_factory.mktemp('src')/'app', tmp_path_factory.mktemp('site')
    shutil.copytree(ROOT/'tests'/'plugin_app', src)
    r = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-build-isolation', '--no-index',
                        '--target', str(site), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    env = {k: v for k, v in os.environ.items() if k != 'MIXED_FT_DEBUG'}
    env['PYTHONPATH'] = os.pathsep.join([str(site), str(ROOT), env.get('PYTHONPATH', '')])
    return env, site


def test_nothing_in_the_package_names_it():
    assert not [p.name for p in (ROOT/'mixed_ft').glob('*.py') if 'mixed_ft_wave' in p.read_text() or "'wave'" in p.read_text()]


def test_listed_through_its_entry_point(plugin):
    env, site = plugin
    assert 'wave = mixed_ft_wave:Wave' in next(site.glob('mixed_ft_wave-*.dist-info')).joinpath('entry_points.txt').read_text()
    rc, out, err = run_cli(['apps'], env)
    assert rc == 0, err
    assert 'wave' in [l.split()[0] for l in out.splitlines()]
    rc, out, err = run_cli(['train', '--example', 'wave'], env)
    assert rc == 0 and 'app = "wave"' in out and 'jitter = 0.05' in out, err   # its [strategies] keys, documented


def test_train_reports_what_its_exported_model_scores(plugin, tmp_path, monkeypatch):
    env, site = plugin
    (tmp_path/'run.toml').write_text('app = "wave"\n[strategies]\nset = "DA+KD"\n[trainer]\nepochs = 20\n'
                                     '[output]\ndir = "runs/wave"\n')
    rc, out, err = run_cli(['train', 'run.toml', '--no-progress'], env, cwd=tmp_path)
    assert rc == 0, err
    res = json.loads(out)
    monkeypatch.syspath_prepend(str(site))
    import mixed_ft_wave as w
    from mixed_ft.io import load_model_weights
    model = load_model_weights(w.mlp(16), tmp_path/'runs'/'wave'/'model'/'model.pt').eval()
    x, y = w.wave(512, 0.2, 2).tensors                                  # the application's test points
    with torch.no_grad(): p = model(x)[:, 0].double()
    y = y.double()
    r2 = 1 - ((p - y) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert abs(res['test_r2'] - r2.item()) < 1e-9, (res, r2)           # the exported weights score what was reported
    assert res['test_r2'] > 0.5, res                                   # it learnt the wave (a constant scores 0)
    assert list((tmp_path/'mixed_ft_work').glob('wave_teacher_*.pt'))  # KD trained the teacher once, and kept it


def test_ablate_runs_its_grid(plugin, tmp_path):
    env, _ = plugin
    (tmp_path/'run.toml').write_text('app = "wave"\n[trainer]\nepochs = 10\n')
    rc, out, err = run_cli(['ablate', 'run.toml', '--seeds', '0,1', '--no-progress'], env, cwd=tmp_path)
    assert rc == 0, err
    res = json.loads((tmp_path/'ablation_out'/'ablation.json').read_text())
    assert list(res['summary']) == ['plain', 'DA', 'KD', 'DA+KD']       # the application's own default sets
    assert res['info']['app'] == 'wave' and len(res['runs']) == 8
    per = {(r['set'], r['seed']): r['r2'] for r in res['runs']}
    assert res['summary']['DA+KD']['diff']['diffs'] == [per['DA+KD', s] - per['plain', s] for s in (0, 1)]   # paired
    assert len((tmp_path/'mixed_ft_work'/'runs.jsonl').read_text().splitlines()) == 8
    assert (tmp_path/'ablation_out'/'histories.png').stat().st_size > 10_000
