"""Neural matrix-factorization recommender for SageMaker (MXNet/Gluon)."""

__version__ = "0.1.0"
