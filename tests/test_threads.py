"The thread policy as a user meets it: a tiny model trains on one intra-op thread, `[trainer] threads` is honoured, the choice is said once"
import subprocess

import pytest
import torch

from conftest import mixed_ft_cmd
from mixed_ft.core import Callback
from mixed_ft.app import ConfigError, build_trainer, get_app, parse_config


class SeenThreads(Callback):
    "torch's intra-op thread count at every training batch and at the evaluation"
    def __init__(self): self.train, self.eval = set(), set()
    def after_batch(self, tr): self.train.add(torch.get_num_threads())
    def after_eval(self, tr): self.eval.add(torch.get_num_threads())


def digits(threads=None):
    cfg = {'data': {'n_train': 64}, 'model': {'width': 4}, 'trainer': {'epochs': 1, **({'threads': threads} if threads is not None else {})}}
    cls = get_app('digits')
    return cls(cls.config(**cfg), progress=False)


@pytest.mark.parametrize('threads, expected', [(None, 1), (2, 2), (1, 1)])
def test_tiny_model_trains_on_one_thread_unless_told(threads, expected, monkeypatch):
    torch.set_num_threads(2)   # what torch picks on a 2-core machine; the policy must lower it for a 1.7k-parameter student
    seen = SeenThreads()
    tr = build_trainer(digits(threads), 'plain', callbacks=[seen])
    tr.fit()
    assert tr.n_threads == expected and seen.train == {expected} and seen.eval == {expected}
    assert torch.get_num_threads() == 2   # restored after the run


def test_negative_threads_is_refused():
    with pytest.raises(ConfigError, match=r"\[trainer\] threads = -1: it must be 0 \(automatic\) or a positive number"):
        parse_config({'trainer': {'threads': -1}}, 'run.toml')


def test_cli_says_the_choice_once(cli_env, tmp_path):
    "The teacher and 10 students train, and each is evaluated, on the threads asked for: the choice is said once, not per run"
    r = subprocess.run(mixed_ft_cmd() + ['demo', '--epochs', '1', '--seeds', '0,1', '--out', str(tmp_path/'demo'), '--no-progress',
                                         '--threads', '1'], env=cli_env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stderr.splitlines() if 'intra-op thread' in l]
    assert lines == ['mixed-ft demo: 1 intra-op thread for training (set explicitly); [trainer] threads sets it'], r.stderr
    r = subprocess.run(mixed_ft_cmd() + ['demo', '--threads', '-1'], env=cli_env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and '[trainer] threads = -1: it must be 0 (automatic) or a positive number of threads' in r.stderr, r.stderr
