"""The batch door (iVvy's API 1.0 batch namespace): POST /api/1.0/batch?action=..."""
