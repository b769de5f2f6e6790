# Sphinx settings for the offline documentation site: `python tools/docs_site.py` (or `bash dev.sh docs` without Quarto)
# writes the processed notebooks to _build/src and builds them with this file. Why Sphinx + MyST-NB + Furo: a
# maintained documentation tool that reads notebooks with their outputs, renders TeX with a MathJax of our choosing
# (here a local copy, no network), and gives sidebar navigation, previous/next links and an offline search index.
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_meta = tomllib.loads((ROOT/'pyproject.toml').read_text())
project = _meta['tool']['nbdev']['title']
author = _meta['project']['authors'][0]['name']
copyright = f"2026, {author}"
html_title = project
extensions = ['myst_nb', 'sphinx.ext.mathjax']
exclude_patterns = ['_build', '**.ipynb_checkpoints']
master_doc = 'index'

# notebooks arrive executed (or deliberately unexecuted): never run them here
nb_execution_mode = 'off'
nb_render_markdown_format = 'myst'      # show_doc entries and Markdown outputs may hold tables, maths and links
nb_output_stderr = 'remove'             # progress bars and library warnings are not part of the text
myst_enable_extensions = ['dollarmath', 'amsmath', 'attrs_block', 'attrs_inline', 'colon_fence']
myst_dmath_double_inline = True
myst_heading_anchors = 3                 # [below](#chapters) and the like resolve as on GitHub
suppress_warnings = ['myst.header', 'misc.highlighting_failure']

# MathJax 2.7 from the jupyter-server-mathjax package, copied into the site by tools/docs_site.py
html_static_path = ['_static', str(ROOT/'_build'/'mathjax_static')]
mathjax_path = 'mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full'
myst_update_mathjax = False           # MyST's settings are for MathJax 3; MathJax 2 reads Sphinx's \( \) spans as they are
mathjax2_config = {'tex2jax': {'processClass': 'math|output_area', 'ignoreClass': 'tex2jax_ignore|mathjax_ignore'},
                   'HTML-CSS': {'availableFonts': [], 'webFont': 'STIX-Web', 'imageFont': None, 'linebreaks': {'automatic': True}},
                   'messageStyle': 'none'}

html_theme = 'furo'
html_css_files = ['mixed_ft.css']
html_copy_source = False
html_show_sourcelink = False
html_theme_options = {'source_repository': 'https://github.com/mixed-ft/mixed_ft/', 'source_branch': 'main',
                      'source_directory': 'nbs/', 'top_of_page_buttons': []}
