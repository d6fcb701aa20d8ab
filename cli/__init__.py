"""The zkml command-line interface (installed as the ``zkml_cli`` package)."""
