"""mixed_ft: mixed fine-tuning in PyTorch — data augmentation, auxiliary tasks and knowledge distillation in one
training loop, with honest measurements of what each part adds.

Start with `mixed-ft demo` (the command line), the README, or the chapters at https://mixed-ft.github.io/mixed_ft/.
The modules: `core` (strategies and the mixed objective), `augment`, `tasks`, `distill`, `train` (the trainer),
`app` (applications and their registry), `experiment` (ablations), `kit` and `text_kit` (what applications share)."""
__version__ = "0.0.1"
