"""Adapters: the only modules that talk to the outside (git, Docker, registries, AWS, HTTP,
Slack, nginx). They translate foreign errors into shipyard errors that keep the context."""
