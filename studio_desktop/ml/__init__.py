"""Torch side: imported only by worker processes (DESIGN §2)."""
