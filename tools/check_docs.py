"""Check a built documentation site the way a reader meets it.

    python tools/check_docs.py [_site]              # structural checks on every page (fast, no browser: CI runs these)
    python tools/check_docs.py [_site] --browser    # and render pages in headless Chromium: maths typeset, screenshots

Structural checks, every HTML page: a real <title>; navigation (the sidebar's chapter list, and previous/next links on
chapter pages); no visible `#|` directive, `In [n]:` prompt or `show_doc(` call; no maths left as raw `$...$` in the
text; every local link and image resolves, anchors included; backticked API names linked to their entries. The
browser check (Playwright driving Debian's Chromium) loads pages from a local server, waits for MathJax, asserts that
every formula was typeset, that the visible text holds no raw TeX or directive and that nothing was fetched from off
the machine, and saves a screenshot of each page (or of the section a `#fragment` names).
Exit status 1 when a check fails, with one line per problem.
"""
import argparse, functools, http.server, re, shutil, socketserver, sys, threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

SKIP_DIRS = {'_static', '_sources', '_images', 'jupyter_execute'}
NO_NAV = {'genindex.html', 'search.html', 'py-modindex.html'}   # Sphinx's own pages: titled, no previous/next
# the pages the browser check loads; a #section is scrolled to, so a screenshot shows what the text there discusses
BROWSER_PAGES = ['index.html', 'index.html#chapters', 'distill.html', 'distill.html#the-teacher-cache', 'train.html',
                 'train.html#trainer', 'sst2.html', 'sst2.html#what-it-gives-and-what-it-costs', 'sst2.html#the-full-run']
_re_prompt = re.compile(r'\b(?:In|Out)\s*\[\s*\d*\s*\]:')
_re_raw_math = re.compile(r'\$\$?[^$\s][^$]{0,300}?\$')

class Page(HTMLParser):
    "What a reader sees of one page: title, visible text outside code and maths, links, ids, navigation"
    HIDDEN = {'script', 'style', 'template', 'noscript'}
    VOID = {'br', 'img', 'hr', 'meta', 'link', 'input', 'source', 'wbr', 'col', 'area', 'base', 'embed', 'param', 'track'}
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title, self.links, self.ids, self.classes = '', [], set(), set()
        self.text, self.prose = [], []      # all visible text; visible text outside code and maths
        self.stack = []                      # (tag, hidden, code-or-maths)
        self.unlinked_code = []              # inline code in prose that is not inside a link
        self._code = None
    def _flags(self):
        return any(h for _, h, _ in self.stack), any(c for _, _, c in self.stack)
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get('id'): self.ids.add(a['id'])
        if a.get('name') and tag == 'a': self.ids.add(a['name'])
        cls = set((a.get('class') or '').split())
        self.classes |= cls
        for k in ('href', 'src'):
            if k in a and a[k] is not None and tag in ('a', 'img', 'link', 'script', 'source'): self.links.append((tag, a[k]))
        if tag in self.VOID: return
        if tag == 'code' and not any(t in ('a', 'pre', 'code') for t, _, _ in self.stack): self._code = []
        hidden = tag in self.HIDDEN or 'hidden' in a
        code = tag in ('code', 'pre', 'kbd', 'samp') or bool(cls & {'math', 'highlight', 'MathJax', 'MathJax_Display', 'MathJax_Preview'})
        self.stack.append((tag, hidden, code))
    def handle_endtag(self, tag):
        if tag in self.VOID: return
        if tag == 'code' and self._code is not None and sum(t == 'code' for t, _, _ in self.stack) == 1:
            self.unlinked_code.append(''.join(self._code).strip()); self._code = None
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag: del self.stack[i:]; break
    def handle_data(self, data):
        if self._code is not None: self._code.append(data)
        if self.stack and self.stack[-1][0] == "title" and any(t == "head" for t, _, _ in self.stack): self.title += data
        hidden, code = self._flags()
        if hidden: return
        self.text.append(data)
        if not code: self.prose.append(data)

def parse(path: Path) -> Page:
    p = Page(); p.feed(path.read_text(encoding='utf-8')); p.close()
    return p

def pages_of(site: Path):
    return sorted(p for p in site.rglob('*.html') if not (SKIP_DIRS & set(p.relative_to(site).parts)))

def api_names(root: Path = Path(__file__).resolve().parents[1]) -> set:
    "The names the symbol index documents (`Trainer`, `Trainer.fit`, `kd_kl`), as backticked prose names them"
    idx = root/'mixed_ft'/'_modidx.py'
    if not idx.exists(): return set()
    d = {}; exec(idx.read_text(), d)
    return {k.removeprefix(f'{mod}.') for mod, syms in d['d']['syms'].items() for k in syms}

def check_structure(site: Path, names: set = None) -> list:
    "Every problem a reader would meet, one line each"
    names = api_names() if names is None else names
    problems, parsed = [], {p: parse(p) for p in pages_of(site)}
    if not parsed: return [f"{site}: no HTML pages"]
    chapters = [p for p in parsed if p.name not in NO_NAV]
    for path, pg in parsed.items():
        rel = path.relative_to(site)
        title = ' '.join(pg.title.split())
        if not title or title.lower().startswith(('notebook', '<no title>')): problems.append(f"{rel}: no page title ({title!r})")
        text, prose = '\n'.join(pg.text), '\n'.join(pg.prose)   # one piece a line: no words glued across elements
        if '#|' in text: problems.append(f"{rel}: a '#|' directive is visible: {_around(text, text.index('#|'))}")
        if (m := _re_prompt.search(text)): problems.append(f"{rel}: a notebook prompt is visible: {_around(text, m.start())}")
        if 'show_doc(' in text: problems.append(f"{rel}: a show_doc call is visible: {_around(text, text.index('show_doc('))}")
        if (m := _re_raw_math.search(prose)): problems.append(f"{rel}: maths left as raw TeX: {_around(prose, m.start())}")
        unlinked = sorted({c for c in pg.unlinked_code if c.removesuffix('()') in names})
        if unlinked and path.name not in NO_NAV: problems.append(f"{rel}: API names not linked to their entries: {', '.join(unlinked[:8])}")
        if path.name not in NO_NAV:
            if 'sidebar-tree' not in pg.classes: problems.append(f"{rel}: no navigation sidebar")
            if len(chapters) > 1 and not ({'prev-page', 'next-page'} & pg.classes): problems.append(f"{rel}: no previous/next links")
        for tag, url in pg.links:
            if (err := _resolve(site, path, url, parsed)): problems.append(f"{rel}: {tag} {url!r} {err}")
    index = site/'index.html'
    if index in parsed:
        nav = {u.split('#')[0] for t, u in parsed[index].links if t == 'a'}
        missing = [p.name for p in chapters if p != index and p.name not in nav]
        if missing: problems.append(f"index.html: not linked from the navigation: {', '.join(missing)}")
    else: problems.append("no index.html")
    return problems

def _around(s, i, n=60): return repr(s[max(0, i - 20): i + n])

def _resolve(site, page, url, parsed):
    if not url.strip(): return 'is empty'
    u = urlsplit(url)
    if u.scheme or url.startswith('//'): return None if u.scheme in ('http', 'https', 'mailto', 'data', 'javascript') else 'has an unknown scheme'
    target = page if not u.path else (page.parent/unquote(u.path)).resolve()
    if not u.path and not u.fragment: return None
    if target.is_dir(): target = target/'index.html'
    if not target.exists(): return 'does not resolve (no such file)'
    try: target.relative_to(site.resolve())
    except ValueError: return 'points outside the site'
    if u.fragment and target.suffix == '.html':
        ids = (parsed.get(target) or parse(target)).ids
        if unquote(u.fragment) not in ids: return f"has no anchor #{u.fragment} in {target.name}"
    return None

# ------------------------------------------------------------------------------------------------- in a browser
def chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        if (p := shutil.which(name)): return p

def _serve(site: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *a): pass
    srv = socketserver.TCPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv

# in the page, once MathJax has typeset it: what a reader sees
_READ_PAGE = """async () => {
  if (window.MathJax && MathJax.Hub) await new Promise(done => MathJax.Hub.Queue(done));
  const formulas = document.querySelectorAll('.math.notranslate').length;
  const typeset = document.querySelectorAll('script[type^="math/tex"]').length;
  return {title: document.title, formulas, typeset, text: document.body.innerText,
          nav: document.querySelectorAll('.sidebar-tree a').length};
}"""

def check_browser(site: Path, shots: Path, pages=BROWSER_PAGES) -> list:
    "Load pages in headless Chromium (driven by Playwright) from a local server; check what it shows; screenshot each"
    exe = chromium()
    if not exe: return ["no Chromium found (Debian: apt-get install chromium): the browser check did not run"]
    try: from playwright.sync_api import sync_playwright
    except ImportError: return ["Playwright is not installed (pip install playwright; it drives the system Chromium)"]
    shots.mkdir(parents=True, exist_ok=True)
    problems, srv = [], _serve(site)
    args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
            '--disable-component-update', '--disable-sync']
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, args=args)
            page = browser.new_page(viewport={'width': 1280, 'height': 1400})
            offsite = []
            page.on('request', lambda r: offsite.append(r.url) if not r.url.startswith(('http://127.0.0.1', 'data:', 'about:')) else None)
            for name in pages:
                path, _, frag = name.partition('#')
                page.goto(f'http://127.0.0.1:{srv.server_address[1]}/{path}', wait_until='load')
                seen = page.evaluate(_READ_PAGE)
                if frag: page.evaluate("id => document.getElementById(id).scrollIntoView({behavior: 'instant'})", frag)
                shot = shots/(name.replace('.html', '').replace('#', '--') + '.png')
                page.screenshot(path=str(shot))
                if frag: continue
                print(f"  {name}: title {seen['title']!r}, {seen['nav']} sidebar links, {seen['formulas']} formulas, "
                      f"{seen['typeset']} typeset by MathJax")
                if not seen['title'].strip(): problems.append(f"{name}: no title in the browser")
                if not seen['nav']: problems.append(f"{name}: no sidebar links in the browser")
                if seen['typeset'] < seen['formulas']: problems.append(f"{name}: {seen['formulas'] - seen['typeset']} of {seen['formulas']} formulas not typeset")
                if (m := _re_raw_math.search(seen['text'])) or (m := re.search(r'\\[(\[]', seen['text'])):
                    problems.append(f"{name}: raw TeX visible in the browser: {_around(seen['text'], m.start())}")
                for bad in ('#|', 'show_doc('):
                    if bad in seen['text']: problems.append(f"{name}: {bad!r} visible in the browser")
            if offsite: problems.append(f"the pages asked for {len(offsite)} resource(s) off this machine, e.g. {offsite[0]}")
            browser.close()
    finally: srv.shutdown()
    return problems

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('site', nargs='?', default='_site')
    p.add_argument('--browser', action='store_true', help='also render pages in headless Chromium and save screenshots')
    p.add_argument('--shots', default='_site_shots', help='where the screenshots go')
    a = p.parse_args()
    site = Path(a.site).resolve()
    problems = check_structure(site)
    n = len(pages_of(site))
    if a.browser: problems += check_browser(site, Path(a.shots))
    for pr in problems: print('docs check:', pr)
    print(f"docs check: {n} pages, {len(problems)} problem(s)" + (f"; screenshots in {a.shots}/" if a.browser else ''))
    sys.exit(1 if problems else 0)

if __name__ == '__main__': main()
