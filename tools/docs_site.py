"""Build the documentation site without Quarto, and README.md from `nbs/index.ipynb`.

nbdev's own notebook processors do the nbdev part (front matter from the H1 and `>` summary, hidden and exported
cells, `show_doc` entries, backticked names linked through the symbol index); Sphinx with MyST-NB and the Furo theme
does the site (navigation, search, previous/next, maths through a local MathJax). With Quarto installed,
`nbdev-docs` builds the Quarto site from the same notebooks: `bash dev.sh docs` picks it.

    python tools/docs_site.py              # run every notebook (cells nbdev-test skips stay unrun), build _site/
    python tools/docs_site.py --no-exec    # prose and API entries only: fast, what CI checks

Processed notebooks are cached in _build/run/proc/ (or _build/unrun/proc/), keyed by the notebook, the package's
source, the [tool.nbdev] settings and nbdev's version.
"""
import argparse, hashlib, json, os, re, shutil, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from html import escape
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT/'_build'
SITE_URL = 'https://mixed-ft.github.io/mixed_ft/'
# notebooks that read a data set from ../shared/data (or $MIXED_FT_DATA): without it they are rendered unrun
NEEDS_DATA = {'06_sst2': 'sst2/train.tsv'}
# the sidebar's groups, by the notebooks' numeric prefixes
GROUPS = [('Foundations', ('00',)), ('Strategies', ('01', '02', '03')), ('Training and experiments', ('04',)),
          ('Applications', ('05',)), ('Tutorials', ('06', '07', '08')), ('Reference', ('09', '10', '11'))]

def page_name(nb: Path) -> str:
    "The page a notebook becomes: nbdev's rule, numeric prefix dropped (`03_distill` -> `distill`)"
    from nbdev.config import nbpath2html
    return nbpath2html(nb).stem

def data_dir() -> Path: return Path(os.environ.get('MIXED_FT_DATA', ROOT.parent/'shared'/'data'))

# ---------------------------------------------------------------------------------------------- nbdev processing
PROC_VERSION = '1'   # bump when _process changes what it writes

def _fingerprint(nb: Path, execute: bool) -> str:
    "What a processed notebook depends on: itself, the package (API entries, outputs) and the nbdev settings"
    import nbdev
    h = hashlib.sha256(nb.read_bytes())
    h.update(f'{PROC_VERSION} {nbdev.__version__} {execute}'.encode())
    import tomllib
    h.update(json.dumps(tomllib.loads((ROOT/'pyproject.toml').read_text())['tool']['nbdev'], sort_keys=True).encode())
    for f in sorted((ROOT/'mixed_ft').glob('*.py')): h.update(f.read_bytes())
    return h.hexdigest()

def _process(nb_path: str, out_path: str, execute: bool):
    "Run nbdev's doc processors on one notebook, in the notebook's folder; with `execute`, every cell nbdev-test runs"
    nb_path, out_path = Path(nb_path).resolve(), Path(out_path).resolve()
    os.environ['IN_TEST'] = '1'
    os.chdir(nb_path.parent)
    from fastcore.nbio import read_nb, write_nb
    from nbdev.config import get_config
    from nbdev.processors import FilterDefaults, exec_show_docs
    from nbdev.test import _skip_cell
    from execnb.shell import CaptureShell

    class exec_cells(exec_show_docs):
        "Execute the cells nbdev-test would run (cells flagged with `tst_flags` are left unrun) and keep their outputs"
        def begin(self):
            self.k = CaptureShell(Path(nb_path), profile=bool(get_config().exec_profile))
            self.k.run_cell('from nbdev.showdoc import show_doc')
            flags = get_config().tst_flags
            self.skip = _skip_cell(self.nb, flags.split() if isinstance(flags, str) else flags)
        def __call__(self, cell):
            if self.skip(cell): return
            self.k.cell(cell)
            if (e := self.k.exc):
                raise RuntimeError(f"{Path(nb_path).name}, cell {cell.idx_}:\n{cell.source}\n{type(e).__name__}: {e}") from e

    class Filters(FilterDefaults):
        def base_procs(self):
            procs = super().base_procs()
            return [exec_cells if p is exec_show_docs else p for p in procs] if execute else procs

    nb = read_nb(nb_path)
    Filters()(nb)
    write_nb(nb, out_path)

def workdir(execute: bool) -> Path:
    "Where one kind of build keeps its processed notebooks, Sphinx sources and output (run and unrun builds apart)"
    return BUILD/('run' if execute else 'unrun')

def process_notebooks(execute: bool, workers: int = 2) -> dict:
    "Processed copies of every notebook, reusing those whose inputs did not change"
    from nbdev.config import get_config
    import nbdev.doclinks
    nbdev.doclinks._build_modidx()
    proc = workdir(execute)/'proc'; proc.mkdir(parents=True, exist_ok=True)
    nbs = sorted(get_config().nbs_path.glob('[!_.]*.ipynb'))
    jobs, out = [], {}
    for nb in nbs:
        run = execute and not (nb.stem in NEEDS_DATA and not (data_dir()/NEEDS_DATA[nb.stem]).is_file())
        if execute and not run: print(f"{nb.name}: its data set is not under {data_dir()}: rendered without running it")
        dst, key = proc/nb.name, proc/f'{nb.stem}.key'
        fp = _fingerprint(nb, run)
        out[nb] = dst
        if dst.exists() and key.exists() and key.read_text() == fp: continue
        jobs.append((nb, dst, key, fp, run))
    if jobs:
        print(f"processing {len(jobs)} notebook(s){' (running them)' if execute else ''}: {' '.join(j[0].stem for j in jobs)}")
        def one(job):  # one fresh interpreter per notebook, as nbdev-test gives each its own state
            nb, dst, key, fp, run = job
            t0 = time.perf_counter()
            cmd = [sys.executable, __file__, '--one', str(nb), str(dst)] + ([] if run else ['--no-exec'])
            r = subprocess.run(cmd, capture_output=True, text=True)
            return job, r, time.perf_counter() - t0
        failed = []
        with ThreadPoolExecutor(workers) as pool:
            for (nb, dst, key, fp, run), r, secs in pool.map(one, jobs):
                if r.returncode: failed.append(f"{nb.name}:\n{r.stderr[-3000:]}")
                else: key.write_text(fp)
                print(f"  {nb.name}: {secs:.0f}s{' FAILED' if r.returncode else ''}")
        if failed: sys.exit('processing failed:\n' + '\n'.join(failed))
    return out

# ---------------------------------------------------------------------------------------------- Sphinx sources
_re_site_code_link = re.compile(r'\[`([^`]+)`\]\(' + re.escape(SITE_URL) + r'([^)\s]*)\)')
_re_site_link = re.compile(r'\]\(' + re.escape(SITE_URL) + r'([^)\s]*)\)')
_re_nb_link = re.compile(r'\]\((?:\./)?(\d+[a-zA-Z0-9]*_[\w.-]+|index)\.ipynb(#[^)\s]*)?\)')
REPO_URL = 'https://github.com/mixed-ft/mixed_ft/blob/main/'
# the benchmarks file: linked relative (from nbs/) or on GitHub (so README and a Quarto site resolve it); a page here
_re_bench_link = re.compile(r'\]\((?:\.\./|' + re.escape(REPO_URL) + r')?benchmarks/BENCHMARKS\.md(#[^)\s]*)?\)')
_re_showdoc_head = re.compile(r'^(#{2,5}) (\S+)[ \t]*$', re.M)
_re_directive = re.compile(r'^\s*#\|\s*([\w-]+)\s*(?::\s*(.*?))?\s*$')

def _code_link(m):
    "A backticked name linked to its API entry, as inline HTML (Sphinx would look the page up as a document)"
    name = m.group(1).replace('\\\\', '\\')
    return (f'<a class="reference internal api-link" href="{escape(m.group(2))}"><code class="docutils literal notranslate">'
            f'{escape(name)}</code></a>')

def site_links(md: str) -> str:
    "Links for the offline site: API entries and chapters relative, the benchmarks page inside the site"
    md = _re_site_code_link.sub(_code_link, md)
    md = _re_site_link.sub(lambda m: f"]({m.group(1) or 'index.ipynb'})", md)
    md = _re_nb_link.sub(lambda m: f"]({page_name(Path(m.group(1) + '.ipynb'))}.ipynb{m.group(2) or ''})", md)
    return _re_bench_link.sub(lambda m: f"](benchmarks.md{m.group(1) or ''})", md)

def api_anchors(md: str) -> str:
    "Each `show_doc` heading gets the anchor nbdev's symbol index points at (`#application.loaders`)"
    md = re.sub(r'^---[ \t]*$', '<hr class="api-rule">', md, flags=re.M)  # a docutils transition may not sit in an output
    return _re_showdoc_head.sub(lambda m: f'<span id="{escape(m.group(2).replace(chr(92), "").lower())}"></span>\n\n{m.group(0)}', md)

def split_directives(src: str):
    "Leading `#|` lines of a code cell as a dict, and the code without them"
    lines, d = src.splitlines(), {}
    while lines and (m := _re_directive.match(lines[0])):
        d[m.group(1)] = (m.group(2) or '').strip('"\'')
        lines.pop(0)
    return d, '\n'.join(lines)

def _text(x): return ''.join(x) if isinstance(x, list) else (x or '')

def front_matter(nb: dict) -> dict:
    for c in nb['cells']:
        if c['cell_type'] == 'raw' and _text(c['source']).lstrip().startswith('---'):
            return yaml.safe_load(_text(c['source']).strip().strip('-')) or {}
    return {}

def sphinx_notebook(nb: dict, flags: set) -> dict:
    "A processed notebook as MyST-NB reads it: title and summary as its first cell, Quarto cell options as tags"
    from nbdev.doclinks import NbdevLookup
    fm = front_matter(nb)
    summary = site_links(NbdevLookup().linkify(fm.get('description', '')))   # nbdev links the body, not the front matter
    cells = [{'cell_type': 'markdown', 'metadata': {},
              'source': f"# {fm.get('title', 'Untitled')}\n\n{{.summary}}\n{summary}\n"}]
    for c in nb['cells']:
        src = _text(c.get('source'))
        if c['cell_type'] == 'raw' or not src.strip() or src.startswith('<!-- WARNING: THIS FILE WAS AUTOGENERATED'): continue
        c = {**c, 'metadata': {k: v for k, v in c.get('metadata', {}).items() if k not in ('execution', 'language')}}
        if c['cell_type'] == 'markdown':
            c['source'] = site_links(src)
        elif c['cell_type'] == 'code':
            d, code = split_directives(src)
            tags = set(c['metadata'].get('tags', []))
            if d.get('echo') == 'false': tags.add('remove-input')
            if d.get('output') == 'false': tags.add('remove-output')
            if d.get('include') == 'false': continue
            c['source'] = code
            for o in c.get('outputs', []):
                md = o.get('data', {}).get('text/markdown')
                if md is not None: o['data']['text/markdown'] = api_anchors(site_links(_text(md)))
            c['metadata']['tags'] = sorted(tags)
            if flags & d.keys():
                names = ', '.join(f'<code>{f}</code>' for f in sorted(flags & d.keys()))
                cells.append({'cell_type': 'markdown', 'metadata': {},
                              'source': f'<p class="cell-flag">Flagged {names}: not run when the site is built '
                                        f'(<code>nbdev-test --flags "{" ".join(sorted(flags & d.keys()))}"</code> runs it).</p>'})
        cells.append(c)
    keys = {'cell_type', 'id', 'metadata', 'source', 'outputs', 'execution_count', 'attachments'}  # nbformat's, no helpers
    cells = [{**{k: v for k, v in c.items() if k in keys}, 'id': c.get('id') or f'docs-{i}'} for i, c in enumerate(cells)]
    meta = {'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
            'language_info': {'name': 'python'}}
    return {'cells': cells, 'metadata': meta, 'nbformat': 4, 'nbformat_minor': 5}

def toctrees(pages: list) -> str:
    "The sidebar: the chapters in order, grouped by their numeric prefix"
    out = []
    for caption, prefixes in GROUPS:
        names = [page_name(p) for p in pages if p.stem.split('_')[0][:2] in prefixes]
        if caption == 'Reference': names.append('benchmarks')
        if names: out.append(f"```{{toctree}}\n:hidden:\n:caption: {caption}\n\n" + '\n'.join(names) + '\n```')
    return '\n\n'.join(out)

def write_sources(procs: dict, src: Path):
    from nbdev.config import get_config
    cfg = get_config()
    flags = set(cfg.tst_flags.split())
    if src.exists(): shutil.rmtree(src)
    src.mkdir(parents=True)
    pages = [nb for nb in procs if nb.stem != 'index']
    for nb, proc in procs.items():
        snb = sphinx_notebook(json.loads(proc.read_text()), flags)
        if nb.stem == 'index': snb['cells'].append({'cell_type': 'markdown', 'id': 'docs-toctree', 'metadata': {}, 'source': toctrees(pages)})
        (src/f'{page_name(nb)}.ipynb').write_text(json.dumps(snb, indent=1))
    if (cfg.nbs_path/'images').is_dir(): shutil.copytree(cfg.nbs_path/'images', src/'images')
    bench = (ROOT/'benchmarks'/'BENCHMARKS.md').read_text()
    # the benchmark page's own links (figures next to it) resolve inside the site
    (src/'results').mkdir()
    for m in set(re.findall(r'\]\(results/([\w.-]+)\)', bench)):
        if (ROOT/'benchmarks'/'results'/m).exists(): shutil.copy(ROOT/'benchmarks'/'results'/m, src/'results'/m)
    from nbdev.doclinks import NbdevLookup
    (src/'benchmarks.md').write_text(site_links(NbdevLookup().linkify(bench)))

def mathjax_static() -> Path:
    "A local copy of MathJax (from the jupyter-server-mathjax package): the site renders maths without a network"
    import jupyter_server_mathjax
    dst = BUILD/'mathjax_static'/'mathjax'
    if not (dst/'MathJax.js').exists():
        shutil.copytree(Path(jupyter_server_mathjax.__file__).parent/'static', dst, dirs_exist_ok=True)
    return dst.parent

def build_site(src: Path, out: Path):
    mathjax_static()
    html = src.parent/'html'   # MyST-NB writes beside its output folder: build inside _build/, then copy the site out
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-q', '-E', '-d', str(src.parent/'doctrees'), '-c', str(ROOT/'docs'), str(src), str(html)]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    warnings = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
    for l in warnings: print('  sphinx:', l)
    if r.returncode: sys.exit(f"sphinx-build failed ({r.returncode})")
    if out.exists(): shutil.rmtree(out)
    shutil.copytree(html, out)
    return warnings

# ---------------------------------------------------------------------------------------------- README
def readme_links(md: str) -> str:
    "Links as they resolve from the repository root on GitHub: notebooks and images under nbs/"
    md = re.sub(r'\]\((?!https?:|/|#)(?:\./)?([^)\s]+\.(?:ipynb|png|svg|jpg))', r'](nbs/\1', md)
    return re.sub(r'\]\(\.\./', '](', md)

def write_readme(proc_index: Path):
    "README.md from the processed index notebook: its prose, its code cells as Python blocks, no outputs"
    from nbdev.config import get_config
    cfg = get_config()
    nb = json.loads(proc_index.read_text())
    fm = front_matter(nb)
    parts = [f"<!-- Generated from {cfg.nbs_path.name}/{cfg.readme_nb} by tools/docs_site.py: edit the notebook -->",
             f"# {fm.get('title', cfg.title)}", f"> {fm.get('description', cfg.description)}"]
    for c in nb['cells']:
        src = _text(c.get('source')).strip()
        if c['cell_type'] == 'raw' or not src or src.startswith('<!-- WARNING'): continue
        if c['cell_type'] == 'markdown': parts.append(readme_links(src))
        elif c['cell_type'] == 'code':
            d, code = split_directives(src)
            if d.get('echo') != 'false' and d.get('include') != 'false': parts.append(f"```python\n{code.strip()}\n```")
    (ROOT/'README.md').write_text('\n\n'.join(parts) + '\n')

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--no-exec', action='store_true', help="don't run the notebooks: prose and API entries only")
    p.add_argument('--out', default=str(ROOT/'_site'), help='where the site goes')
    p.add_argument('--one', nargs=2, metavar=('NOTEBOOK', 'OUT'), help=argparse.SUPPRESS)  # a worker: process one notebook
    a = p.parse_args()
    if a.one: return _process(*a.one, execute=not a.no_exec)
    os.chdir(ROOT)
    t0 = time.perf_counter()
    # README from the unexecuted index (no outputs, so it does not depend on --no-exec)
    procs = process_notebooks(execute=not a.no_exec)
    src = workdir(not a.no_exec)/'src'
    write_sources(procs, src)
    warnings = build_site(src, Path(a.out))
    idx = [nb for nb in procs if nb.stem == 'index'][0]
    write_readme(procs[idx])
    print(f"Wrote {len(procs)} pages and the benchmarks page to {a.out}/ (start at index.html) and README.md "
          f"in {time.perf_counter() - t0:.0f}s; {len(warnings)} Sphinx warning(s)")

if __name__ == '__main__': main()
