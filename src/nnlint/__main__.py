from nnlint.cli import entry

entry()
