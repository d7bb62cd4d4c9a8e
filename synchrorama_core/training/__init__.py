"""Training scripts for the model backends, on folders of talking-face videos:

* ``python -m synchrorama_core.training.a2m``: the neural A2M (:mod:`.a2m`);
* ``python -m synchrorama_core.training.adapters``: the diffusion sampler's audio/emotion adapters
  (:mod:`.adapters`);
* :mod:`.data`: what both read from the videos (frames at the training fps, emotion labels).

Trainers sit above the stages (like the pipeline): they run the audio, face and motion stages to
build their targets.  Importing this package imports nothing heavy.
"""
