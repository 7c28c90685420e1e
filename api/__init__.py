"""fieldsurvey's server: the HTTP surfaces, the services and the shared parts."""

__version__ = "0.2.0"  # the release (pyproject.toml reads it; CHANGELOG.md says what changed)
