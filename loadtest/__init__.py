"""The load test: the Locust users, and a local rehearsal of the whole flow without AWS."""
