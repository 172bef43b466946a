"""Kubeflow Pipelines v2 components that run our objects as pipeline steps.

Two halves that never import each other:
- the step itself, `python -m kubemaker.kfp` (`__main__.py`), run inside the operator's image: it
  applies one object, waits for Ready or Stalled and writes the step's outputs;
- the authoring side, `kubemaker.kfp.components` (needs the `kfp` SDK, not the operator's
  dependencies): the components as Python functions, compiled to the YAML in `yaml/`.
"""
