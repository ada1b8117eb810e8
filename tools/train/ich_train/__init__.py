"""ich-triage training tool: preprocessing reference, phantoms, training, evaluation, export."""
__version__ = "0.1.0"
