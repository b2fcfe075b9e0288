"""Command-line interface (Typer): a sub-app per noun."""
