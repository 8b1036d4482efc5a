"""The namespaces a batch job may call, one module each (registered in core/actions.py)."""
