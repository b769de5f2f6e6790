"""mixed_ft: mixed fine-tuning in PyTorch — data augmentation, auxiliary tasks and knowledge distillation in one
training loop, with honest measurements of what each part adds.

Start with `mixed-ft demo` (the command line), the README, or the chapters at https://mixed-ft.github.io/mixed_ft/.
The modules: `core` (strategies and the mixed objective), `augment`, `tasks`, `distill`, `train` (the trainer),
`app` (applications and their registry), `experiment` (ablations), `kit` and `text_kit` (what applications share),
`export` (a run's model/ folder, predictors, ONNX). `mixed_ft.load(RUN)` gives a trained model ready to predict."""
__version__ = "0.0.1"

def load(path, device=None, **options):
    "A trained model ready to predict, from a run folder, its model/ folder or an .onnx file: `mixed_ft.load('runs/sst2')('a gripping film')`"
    from .export import load as _load
    return _load(path, device, **options)
