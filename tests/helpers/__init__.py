"""Helpers the tests share: generated fixtures, a static file server, a scripted OpenAI-compatible server."""
