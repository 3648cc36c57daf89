"""Using a trained generator without the training code: loading it from a run and running it by its
family's contract (generator.py; the contract is models/contract.py), writing samples and translations to
files (files.py), and exporting it to ONNX or TorchScript (export.py). Nothing here imports train/."""
