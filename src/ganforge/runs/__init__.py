"""A run folder, known in one place: its layout (layout.py), the run and its config (run.py), checkpoints
(checkpoint.py), claiming and locking a new folder (folder.py), rolling back (rollback.py), and the checks
that keep every output of a command off the files of a run (outputs.py)."""
