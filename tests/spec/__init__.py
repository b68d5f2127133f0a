"""The official OpenAPI documents as a test: converter, validators, tolerated quirks, the suite hook."""
