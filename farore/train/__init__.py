"""LoRA supervised fine-tuning of a base model on a validated dataset, and its export to Ollama.

* ``config``: the training configuration (defaults = the seed's LoraConfig and TrainingArguments)
  and the named presets under ``fixtures/train/``;
* ``names``: the run name ``farore:YYYY-MM-DD-NNNsamples[-tag]``;
* ``data``: the dataset gates, run before any compute, and the split into train and validation;
* ``chatml``: the ChatML chat template, with the loss markers for training and as an Ollama TEMPLATE;
* ``sft``: one training stage with trl's SFTTrainer (progress, Ctrl-C checkpoint, NaN stop);
* ``two_stage``: diagnosis-only answers for stage 1 of the seed's Option B;
* ``manifest``: the run directory's record (config, data, base model, curves, wall time);
* ``evaluate``: the benchmark on the new adapter and on its base model;
* ``export``: the merged checkpoint and the Ollama Modelfile;
* ``commands``: ``farore train`` and ``farore export``.
"""
