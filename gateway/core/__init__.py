"""HTTP-agnostic domain services shared by the four API families (no web framework here)."""
