"""Nexus, the assistant: the pydantic-ai agent, its model and its instructions.

Built in the Nexus issues; imports `tools` and `store`, never `web`.
"""
