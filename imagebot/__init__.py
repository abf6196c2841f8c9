"""imagebot: keep the images referenced in a GitOps repository up to date, editing Git byte-exactly."""

__version__ = "0.1.0"
