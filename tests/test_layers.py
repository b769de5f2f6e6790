"""The never-rules of the package's layers, read from the modules' imports and string literals: a strategy never
imports the loop; the grid, the CLI and the loop name no application; an application never imports another; the core
imports nothing above it; an application's name appears only in its own module and the registry's entry points"""
import ast, tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT/'mixed_ft'
APPS = {name: ep.split(':')[0].split('.')[-1] for name, ep in
        tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['entry-points']['mixed_ft.apps'].items()}
STRATEGIES = ('augment', 'augment_text', 'mix', 'tasks', 'distill')
GENERIC = ('experiment', 'tune', 'cli', 'train', 'app', 'kit', 'text_kit', 'core', 'metrics', 'io', 'distributed')


def imports(mod:str) -> set[str]:
    "The mixed_ft modules that `mod` imports (at any depth of the file)"
    out = set()
    for node in ast.walk(ast.parse((PKG/f'{mod}.py').read_text())):
        if isinstance(node, ast.ImportFrom):
            name = ('mixed_ft.' + node.module if node.level and node.module else node.module) or ''
            if node.level and not node.module: out |= {a.name for a in node.names}
            elif name.startswith('mixed_ft.'): out.add(name.split('.')[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('mixed_ft.')}
    return out


def strings(mod:str) -> set[str]:
    return {n.value for n in ast.walk(ast.parse((PKG/f'{mod}.py').read_text())) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_the_registry_lists_the_five_applications():
    assert set(APPS) == {'digits', 'text-classification', 'ner', 'causal-lm', 'translation'}


def test_a_strategy_never_imports_the_loop():
    assert {m: imports(m) & {'train', 'app', 'experiment', 'cli'} for m in STRATEGIES} == {m: set() for m in STRATEGIES}


def test_the_core_imports_nothing_above_it():
    assert imports('core') == set()


def test_an_application_never_imports_another():
    mods = set(APPS.values())
    assert {m: imports(m) & (mods - {m}) for m in mods} == {m: set() for m in mods}


def test_generic_modules_name_no_application():
    "No import of an application's module, and no application name as a string, except DEFAULT_APP in the registry"
    mods = set(APPS.values())
    for m in GENERIC:
        assert not imports(m) & mods, m
        named = {s for s in strings(m) if s in APPS}
        assert named == ({'digits'} if m == 'app' else set()), (m, named)


def test_an_application_name_appears_only_in_its_own_module():
    for name, mod in APPS.items():
        others = [p.stem for p in PKG.glob('*.py') if p.stem not in (mod, 'app', '_modidx') and name in strings(p.stem)]
        assert others == [], (name, others)
