"""`mixed-ft tune` as a user runs it: a study killed mid-trial resumes and repeats no finished trial, two workers on one
SQLite study share its trials, best.toml trains as is (the best trial again), and bad input gets one line"""
import json, os, signal, subprocess, time

import optuna
from conftest import mixed_ft_cmd, run_cli

ENDED = ('COMPLETE', 'PRUNED', 'FAIL')


def write_config(folder, trials=6, steps=200, extra=''):
    "A digits study small enough for the tests: 150 images, `steps` optimizer steps per trial, evaluated every 40 (one thread: runs compare bit for bit)"
    cfg = folder/'tune.toml'
    cfg.write_text(f'app = "digits"\n[data]\nn_train = 150\n[teacher]\nepochs = 10\n[trainer]\nepochs = 3\nthreads = 1\n'
                   f'[output]\nwork_dir = "work"\ndir = "run"\n[ablate]\nbudget = "steps"\nsteps = {steps}\neval_every = 40\n'
                   f'[tune]\ntrials = {trials}\nout = "tune_out"\n{extra}')
    return cfg


def trials(url, name='digits'):
    return optuna.load_study(study_name=name, storage=url).get_trials(deepcopy=False)


def printed(stdout):
    "The trial numbers a process printed a line for"
    return [int(l.split()[1]) for l in stdout.splitlines() if l.startswith('trial ')]


def wait_for(cond, timeout=300):
    t0 = time.time()
    while not cond():
        assert time.time() - t0 < timeout, 'timed out'
        time.sleep(0.2)


def test_a_study_and_its_best_toml(cli_env, tmp_path):
    rc, out, err = run_cli(['tune', write_config(tmp_path), '--no-progress'], cli_env)
    assert rc == 0, err
    assert printed(out) == list(range(6))                        # one line per trial, in order
    best = (tmp_path/'tune_out'/'best.toml')
    assert f"Train it: mixed-ft train {best}" in out
    for f in ('tune.md', 'tune.json', 'history.png', 'importances.png', 'tune.db'): assert (tmp_path/'tune_out'/f).exists(), f
    rc, out, err = run_cli(['train', best, '--no-progress'], cli_env)   # the best config, as written, is a run
    assert rc == 0, err
    assert (tmp_path/'tune_out'/'best_run'/'model'/'model.pt').exists()
    res = json.loads((tmp_path/'tune_out'/'tune.json').read_text())
    hist = json.loads((tmp_path/'tune_out'/'best_run'/'history.json').read_text())
    assert max(r['step'] for r in hist) == 200                       # the study's budget of steps, not [trainer] epochs
    evals = [r['valid_accuracy'] for r in hist if 'valid_accuracy' in r]
    assert max(evals) == res['best']['value']                        # the best trial trained again: the score it was chosen for


def test_a_study_killed_mid_trial_resumes_without_repeating_a_finished_trial(cli_env, tmp_path):
    cfg = write_config(tmp_path, trials=8, steps=400)
    url = f"sqlite:///{tmp_path/'tune_out'/'tune.db'}"
    p = subprocess.Popen(mixed_ft_cmd() + ['tune', str(cfg), '--no-progress'], env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    def two_done_one_running():
        if not (tmp_path/'tune_out'/'tune.db').exists(): return False
        try: ts = trials(url)
        except KeyError: return False   # the study is not created yet
        return sum(t.state.name in ENDED for t in ts) >= 2 and any(t.state.name == 'RUNNING' for t in ts)
    wait_for(two_done_one_running)
    p.send_signal(signal.SIGKILL); p.communicate()
    before = {t.number: (t.state.name, t.params, t.value) for t in trials(url) if t.state.name in ENDED}
    killed = [t.number for t in trials(url) if t.state.name == 'RUNNING']
    assert len(killed) == 1
    rc, out, err = run_cli(['tune', cfg, '--no-progress'], cli_env)     # without --resume: refused, nothing lost
    assert rc == 1 and 'has ' in err and 'trials already' in err and '--resume' in err
    rc, out, err = run_cli(['tune', cfg, '--resume', '--no-progress'], cli_env)
    assert rc == 0, err
    after = trials(url)
    assert {t.number: (t.state.name, t.params, t.value) for t in after if t.number in before} == before   # untouched
    new = printed(out)
    assert new and not set(new) & set(before) and killed[0] not in new          # only new trials were run
    assert sum(t.state.name in ENDED for t in after) == 8                        # the study's 8, the killed one not counted


def test_two_workers_share_one_sqlite_study(cli_env, tmp_path):
    cfg = write_config(tmp_path, trials=10, steps=200)
    url = f"sqlite:///{tmp_path/'shared.db'}"
    cmd = mixed_ft_cmd() + ['tune', str(cfg), '--storage', url, '--no-progress']
    a = subprocess.Popen(cmd, env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    def started():
        try: return len(trials(url)) >= 1
        except Exception: return False
    wait_for(started)
    b = subprocess.Popen(cmd + ['--resume'], env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    (out_a, err_a), (out_b, err_b) = a.communicate(timeout=600), b.communicate(timeout=600)
    assert a.returncode == 0 and b.returncode == 0, err_a + err_b
    na, nb = printed(out_a), printed(out_b)
    assert na and nb, (na, nb)                                                  # both worked on it
    assert not set(na) & set(nb)                                                # no trial run twice
    ended = sorted(t.number for t in trials(url) if t.state.name in ENDED)
    assert sorted(na + nb) == ended and 10 <= len(ended) <= 11                  # the union; a worker may finish one more


def test_bad_input_gets_one_line(cli_env, tmp_path):
    def one_line(extra='', args=()):
        rc, out, err = run_cli(['tune', write_config(tmp_path, extra=extra), '--no-progress', *args], cli_env)
        lines = err.strip().splitlines()
        assert rc == 1 and len(lines) == 1 and lines[0].startswith('mixed-ft tune: error:'), err
        return lines[0]
    assert "unknown key 'alpah'. Did you mean 'alpha'? The search space: DA, TA, KD" in one_line('[tune.space]\nalpah = [0.2, 0.4]\n')
    assert 'alpha = [0.9, 0.1]: low > high' in one_line('[tune.space]\nalpha = [0.9, 0.1]\n')
    assert "unknown key 'trails' in [tune]. Did you mean 'trials'?" in one_line('trails = 3\n')
    assert 'the database does not answer' in one_line(args=['--storage', f"sqlite:///{tmp_path/'no'/'such'/'t.db'}"])
    line = one_line(args=['--storage', 'postgresql://me:secret@localhost/db'])
    assert 'its database driver is not installed: pip install psycopg2-binary' in line and 'secret' not in line   # the password is not shown
