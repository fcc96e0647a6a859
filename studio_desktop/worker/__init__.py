"""`worker` entry: runs one job (train, evaluate, export, predict) and prints protocol events."""
