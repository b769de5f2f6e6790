"Shared by the benchmark scripts: replace one script's section of BENCHMARKS.md, between its markers"
from pathlib import Path

MD = Path(__file__).resolve().parent/'BENCHMARKS.md'

def update_section(key:str, section:str):
    "Put `section` between <!-- key:start --> and <!-- key:end --> (appended the first time)"
    text = MD.read_text()
    start, end = f'<!-- {key}:start -->', f'<!-- {key}:end -->'
    block = f"{start}\n{section.rstrip()}\n{end}"
    text = text[:text.index(start)] + block + text[text.index(end) + len(end):] if start in text else text.rstrip() + '\n\n' + block + '\n'
    MD.write_text(text)
