import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture
def cli_env():
    "Environment for running the installed `mixed-ft` command in a subprocess"
    env = dict(os.environ)
    env.pop('MIXED_FT_DEBUG', None)
    env['PYTHONPATH'] = str(ROOT) + os.pathsep + env.get('PYTHONPATH', '')
    return env

def mixed_ft_cmd():
    "The console script next to this interpreter, or `python -c` on its entry point"
    exe = Path(sys.executable).with_name('mixed-ft')
    return [str(exe)] if exe.exists() else [sys.executable, '-c', 'import sys; from mixed_ft.cli import main; sys.exit(main())']
