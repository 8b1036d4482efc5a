"""The service door: eNMS's REST API (`/rest/...`) over runplane's core."""
