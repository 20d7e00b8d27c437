"""Datasets made from a corpus and an encoder (stock or trained): the builder behind <corpus>-<encoder>[-<variant>]."""
