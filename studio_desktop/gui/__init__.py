"""Qt layer. Never imports torch (DESIGN §2): ML runs in worker processes started by ``jobs``."""
