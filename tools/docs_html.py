"""Build the docs where Quarto is not installed: process the notebooks as `nbdev-proc-nbs` does (into _proc/),
render each to HTML in _site/ with nbconvert, and write README.md from index.ipynb.
With Quarto installed, use `nbdev-docs` (and `nbdev-readme`) instead: `bash dev.sh docs` picks it."""
import os, re
from pathlib import Path

import nbdev.doclinks
from nbdev.config import get_config
from nbdev.quarto import refresh_quarto_yml
from nbdev.serve import proc_nbs
from nbconvert import HTMLExporter, MarkdownExporter
import nbformat

def main():
    cfg = get_config()
    os.chdir(cfg.config_path)
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    cache = proc_nbs(cfg.nbs_path)  # nbdev's processors: hidden cells dropped, show_doc rendered, front matter
    site = cfg.config_path/'_site'; site.mkdir(exist_ok=True)
    html = HTMLExporter(template_name='lab')
    pages = sorted(cache.glob('*.ipynb'))
    for nb_path in pages:
        body, _ = html.from_notebook_node(nbformat.read(nb_path, as_version=4))
        (site/f'{nb_path.stem}.html').write_text(body)
    links = '\n'.join(f'<li><a href="{p.stem}.html">{p.stem}</a></li>' for p in pages)
    (site/'contents.html').write_text(f'<html><body><h1>{cfg.title}</h1><ul>{links}</ul></body></html>')
    md, _ = MarkdownExporter().from_notebook_node(nbformat.read(cache/cfg.readme_nb, as_version=4))
    md = re.sub(r'\A---\n.*?\n---\n+', '', md, flags=re.S)  # Quarto front matter
    (cfg.config_path/'README.md').write_text(md.strip() + '\n')
    print(f"Wrote {len(pages)} pages to {site}/ (start at contents.html) and README.md")

if __name__ == '__main__': main()
