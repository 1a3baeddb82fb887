"""detectors layer."""
