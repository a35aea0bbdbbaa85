"""Benchmarks of the QA service: quality vs a LangChain peer, latency, build cost, growth, load."""
