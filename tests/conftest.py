import os, signal, sys
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

def sigint_default():
    "preexec_fn for a child that a test interrupts: Ctrl-C raises KeyboardInterrupt even when the suite itself was started in the background (where SIGINT is ignored and children inherit that)"
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def mixed_ft_cmd():
    "The console script next to this interpreter, or `python -c` on its entry point"
    exe = Path(sys.executable).with_name('mixed-ft')
    return [str(exe)] if exe.exists() else [sys.executable, '-c', 'import sys; from mixed_ft.cli import main; sys.exit(main())']


def run_cli(args, env, cwd=None, timeout=600, pty_mode=False, cols=100, typed=None):
    """Run `mixed-ft ARGS` as a user would: stdout and stderr piped (returns rc, stdout, stderr), or inside a
    pseudo-terminal (`pty_mode=True`: returns rc, everything the terminal showed, ''), `cols` wide (0: a terminal that
    reports no width), with `typed` (text) typed into it"""
    import subprocess
    cmd = mixed_ft_cmd() + [str(a) for a in args]
    if not pty_mode:
        r = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout, r.stderr
    import pty, select, time
    import fcntl, struct, termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack('HHHH', 24 if cols else 0, cols, 0, 0))   # a terminal has a size (tqdm reads it)
    p = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env={**env, 'TERM': 'xterm'}, cwd=cwd, close_fds=True)
    os.close(slave)
    if typed: os.write(master, typed.encode())
    out, deadline = b'', time.time() + timeout
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try: data = os.read(master, 65536)
            except OSError: data = b''   # EIO: the terminal's other side closed
            if not data: break
            out += data
        elif p.poll() is not None: break
    else: p.kill()
    rc = p.wait(); os.close(master)
    return rc, out.decode(errors='replace'), ''


def run_main(*argv):
    "`mixed-ft ARGV` in this process: (exit status, stdout, stderr)"
    import io, contextlib
    from mixed_ft.cli import main
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try: rc = main([str(a) for a in argv])
        except SystemExit as e: rc = e.code
    return rc, out.getvalue(), err.getvalue()
