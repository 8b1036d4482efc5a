"""Durable callbacks: bodies rendered from the outbox's records, signing, the sender and
retention (the URL check they share with the core is core/callback_urls.py)."""
