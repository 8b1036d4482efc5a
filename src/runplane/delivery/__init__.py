"""Durable callbacks: the outbox, signing, the URL guard, the sender and retention."""
