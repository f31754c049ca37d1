"""Tool-safety and utility evals, and the performance benchmarks (`flowgrid bench`).

Sits beside `web`: may import agent, tools and store, never web.
"""
