"""Using a trained generator without the training code: how its family runs it (contract.py), loading it
from a run (generator.py), writing samples and translations to files (files.py), and exporting it to ONNX
or TorchScript (export.py). Nothing here imports train/."""
