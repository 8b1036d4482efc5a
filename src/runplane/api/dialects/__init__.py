"""The wire formats of the clients runplane copies, one module per dialect, shared by the door
that speaks it and by the batch door's actions (which answer in the other doors' shapes):
syncano (the script door's traces, scripts, instances), enms (the service door's words and
summaries) and enms_runs (run_service, results and stop, answered in eNMS's shapes)."""
