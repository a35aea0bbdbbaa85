"""Serve: the REST API, the Gradio interface and what they share (security, uploads, chat)."""
