"""txregistry: a container image registry on Twisted."""
